//! Identities: node names, process ids and references.
//!
//! A [`Pid`] names one process of one *incarnation* of a node. The incarnation
//! (`creation`) changes every time a node with the same name starts, so a pid kept
//! from before a restart can never reach a process of the new incarnation — the
//! same guarantee the BEAM gives with its creation counter.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A node's full name, `name@host` (for example `gold@127.0.0.1`).
///
/// Names are validated wherever they come from, the wire included: a peer
/// cannot slip a newline into a log line or a name without a host into a
/// node's tables.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct NodeName(Arc<str>);

impl<'de> Deserialize<'de> for NodeName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        NodeName::new(&s).map_err(serde::de::Error::custom)
    }
}

/// Why a string is not a valid node name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid node name {given:?}: {why} (expected name@host, e.g. gold@127.0.0.1)")]
pub struct BadNodeName {
    /// The string that was rejected.
    pub given: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl NodeName {
    /// Parses and validates `name@host`.
    pub fn new(s: &str) -> Result<NodeName, BadNodeName> {
        let bad = |why| BadNodeName {
            given: s.to_string(),
            why,
        };
        let (short, host) = s.split_once('@').ok_or_else(|| bad("it has no '@'"))?;
        if short.is_empty() {
            return Err(bad("the part before '@' is empty"));
        }
        if host.is_empty() {
            return Err(bad("the host after '@' is empty"));
        }
        if host.contains('@') {
            return Err(bad("it has more than one '@'"));
        }
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
        if !short.chars().all(ok) {
            return Err(bad(
                "the name may only use letters, digits, '_', '-' and '.'",
            ));
        }
        if !host.chars().all(|c| ok(c) || c == ':') {
            return Err(bad(
                "the host may only use letters, digits, '_', '-', '.' and ':'",
            ));
        }
        Ok(NodeName(Arc::from(s)))
    }

    /// The part before `@`, which the port mapper registers.
    pub fn short(&self) -> &str {
        self.0.split_once('@').map(|(s, _)| s).unwrap_or(&self.0)
    }

    /// The part after `@`: where this node's port mapper is asked for its port.
    pub fn host(&self) -> &str {
        self.0.split_once('@').map(|(_, h)| h).unwrap_or("")
    }

    /// The full name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for NodeName {
    type Err = BadNodeName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeName::new(s)
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl PartialEq<str> for NodeName {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for NodeName {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

/// A process identifier: which node, which incarnation of it, which process.
///
/// Pids are plain data: they can be sent in messages, stored and compared.
/// Sending to the pid of a dead process, or of a previous incarnation of its
/// node, silently does nothing — as on the BEAM.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pid {
    pub(crate) node: NodeName,
    pub(crate) creation: u32,
    pub(crate) id: u64,
}

impl Pid {
    /// The node this process lives (or lived) on.
    pub fn node(&self) -> &NodeName {
        &self.node
    }
    /// The incarnation of the node that spawned it.
    pub fn creation(&self) -> u32 {
        self.creation
    }
    /// The process number, unique within one incarnation of a node.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}.{}.{}>", self.node, self.creation, self.id)
    }
}

/// Reads a pid back from how it prints, `<node.creation.id>`: what a user
/// copies from one node's terminal into another's.
impl std::str::FromStr for Pid {
    type Err = String;
    fn from_str(s: &str) -> Result<Pid, String> {
        let inner = s
            .strip_prefix('<')
            .and_then(|r| r.strip_suffix('>'))
            .ok_or_else(|| {
                format!("{s:?} is not a pid (a pid prints as <gold@127.0.0.1.1234.5>)")
            })?;
        let (node, creation, id) = split_identity(inner)
            .ok_or_else(|| format!("{s:?} is not a pid (expected <node.incarnation.number>)"))?;
        Ok(Pid { node, creation, id })
    }
}

/// Reads a reference back from how it prints, `#Ref<node.creation.id>`.
impl std::str::FromStr for Ref {
    type Err = String;
    fn from_str(s: &str) -> Result<Ref, String> {
        let inner = s
            .strip_prefix("#Ref<")
            .and_then(|r| r.strip_suffix('>'))
            .ok_or_else(|| {
                format!("{s:?} is not a reference (one prints as #Ref<gold@127.0.0.1.1234.5>)")
            })?;
        let (node, creation, id) = split_identity(inner).ok_or_else(|| {
            format!("{s:?} is not a reference (expected #Ref<node.incarnation.number>)")
        })?;
        Ok(Ref { node, creation, id })
    }
}

/// `node.creation.id`, split from the right (the node's host has dots too).
fn split_identity(s: &str) -> Option<(NodeName, u32, u64)> {
    let (rest, id) = s.rsplit_once('.')?;
    let (node, creation) = rest.rsplit_once('.')?;
    Some((
        NodeName::new(node).ok()?,
        creation.parse().ok()?,
        id.parse().ok()?,
    ))
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A unique reference, as returned by `monitor` or a timer. Unique per node
/// incarnation, like an Erlang `make_ref()`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ref {
    pub(crate) node: NodeName,
    pub(crate) creation: u32,
    pub(crate) id: u64,
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#Ref<{}.{}.{}>", self.node, self.creation, self.id)
    }
}

impl fmt::Debug for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_validated() {
        let n = NodeName::new("gold@127.0.0.1").unwrap();
        assert_eq!(n.short(), "gold");
        assert_eq!(n.host(), "127.0.0.1");
        for bad in ["gold", "@host", "gold@", "a@b@c", "go ld@h", "g@h st"] {
            assert!(NodeName::new(bad).is_err(), "{bad} should be rejected");
        }
        let e = NodeName::new("gold").unwrap_err().to_string();
        assert!(e.contains("name@host"), "{e}");
    }

    #[test]
    fn pids_and_refs_read_back_what_they_print() {
        let node = NodeName::new("gold@127.0.0.1").unwrap();
        let pid = Pid {
            node: node.clone(),
            creation: 1234,
            id: 5,
        };
        assert_eq!(pid.to_string().parse::<Pid>(), Ok(pid));
        let r = Ref {
            node,
            creation: 7,
            id: 99,
        };
        assert_eq!(r.to_string().parse::<Ref>(), Ok(r));
        for bad in [
            "gold@127.0.0.1.1.2",
            "<gold@host>",
            "<gold.1.2>",
            "<g@h.x.2>",
            "#Ref<g@h.1.2",
        ] {
            assert!(
                bad.parse::<Pid>().is_err() && bad.parse::<Ref>().is_err(),
                "{bad}"
            );
        }
    }
}
