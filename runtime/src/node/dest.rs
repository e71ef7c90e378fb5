//! Where a message can be sent.

use crate::pid::{NodeName, Pid};

/// A destination: a pid, a locally registered name, or a name on a given node.
///
/// Conversions make call sites read like Erlang: `&pid`, `"consumer"`, or
/// `("consumer", &node_name)` for `{consumer, Node}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dest {
    /// A process id (local or remote).
    Pid(Pid),
    /// A name registered on this node.
    Name(String),
    /// A name registered on a given node (`{Name, Node}` in Erlang).
    Remote(String, NodeName),
}

impl Dest {
    /// The node the message goes to, if it is not the local one (`None` for local names).
    pub fn node(&self) -> Option<&NodeName> {
        match self {
            Dest::Pid(p) => Some(&p.node),
            Dest::Name(_) => None,
            Dest::Remote(_, n) => Some(n),
        }
    }
}

impl std::fmt::Display for Dest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dest::Pid(p) => write!(f, "{p}"),
            Dest::Name(n) => write!(f, "{n}"),
            Dest::Remote(n, node) => write!(f, "{{{n}, {node}}}"),
        }
    }
}

impl From<Pid> for Dest {
    fn from(p: Pid) -> Self {
        Dest::Pid(p)
    }
}
impl From<&Pid> for Dest {
    fn from(p: &Pid) -> Self {
        Dest::Pid(p.clone())
    }
}
impl From<&str> for Dest {
    fn from(n: &str) -> Self {
        Dest::Name(n.to_string())
    }
}
impl From<String> for Dest {
    fn from(n: String) -> Self {
        Dest::Name(n)
    }
}
impl From<(&str, &NodeName)> for Dest {
    fn from((n, node): (&str, &NodeName)) -> Self {
        Dest::Remote(n.to_string(), node.clone())
    }
}
impl From<(&str, NodeName)> for Dest {
    fn from((n, node): (&str, NodeName)) -> Self {
        Dest::Remote(n.to_string(), node)
    }
}
impl From<(String, NodeName)> for Dest {
    fn from((n, node): (String, NodeName)) -> Self {
        Dest::Remote(n, node)
    }
}
impl From<&Dest> for Dest {
    fn from(d: &Dest) -> Self {
        d.clone()
    }
}
