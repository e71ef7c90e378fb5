//! Part 1, ping-pong: a producer and a consumer on every node.
//!
//! A producer numbers its pings 1, 2, 3, …; a [`Ping`] carries the number of
//! the ping it is, which is also how many pings that producer has sent so
//! far. A consumer keeps, for every producer node, the highest number it has
//! seen: that is its count for that producer. Because a ping says "at least
//! this many", a duplicate or a late ping is harmless as long as the consumer
//! never lets a count go down.

use netsplit::NodeName;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The name every node registers its producer under.
pub const PRODUCER: &str = "producer";
/// The name every node registers its consumer under.
pub const CONSUMER: &str = "consumer";

/// The producer, with the types of its calls.
pub const PRODUCER_SERVER: crate::Server<ProducerCall, ProducerReply> =
    crate::Server::new(PRODUCER);
/// The consumer, with the types of its calls.
pub const CONSUMER_SERVER: crate::Server<ConsumerCall, Counts> = crate::Server::new(CONSUMER);

/// Cast to consumers: "the producer on node `producer` has now sent `count` pings".
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// The node whose producer sent it.
    pub producer: NodeName,
    /// How many pings that producer has sent, this one included.
    pub count: u64,
}

/// A consumer's counts: producer node → highest ping count seen.
/// A producer never heard of is the same as a count of 0.
pub type Counts = BTreeMap<NodeName, u64>;

/// Calls a producer serves.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ProducerCall {
    /// Send this many pings, one after the other, then reply
    /// [`ProducerReply::Count`] with the new total. (The grader's workload.)
    SendPings(u64),
    /// Reply [`ProducerReply::Count`] with how many pings were sent so far.
    CurrentCount,
    /// Problem 2: ask every consumer in the cluster (this node's included) for
    /// its counts, waiting at most `timeout_ms`, and reply
    /// [`ProducerReply::Cluster`].
    GetCounts {
        /// How long to wait for the consumers' answers, in milliseconds.
        timeout_ms: u64,
    },
}

/// A producer's replies.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ProducerReply {
    /// Pings sent so far.
    Count(u64),
    /// What `GetCounts` gathered.
    Cluster(ClusterCounts),
}

/// Casts a producer serves.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ProducerCast {
    /// Problem 3: a consumer on node `0` has (re)started and asks for this
    /// producer's current count, to be sent to it as a [`Ping`].
    SendCountTo(NodeName),
}

/// Calls a consumer serves.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ConsumerCall {
    /// Reply with this consumer's [`Counts`].
    Counts,
}

/// Every consumer's counts, as gathered by `GetCounts`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterCounts {
    /// Consumer node → its counts.
    pub counts: BTreeMap<NodeName, Counts>,
    /// Nodes asked that did not answer in time.
    pub bad_nodes: Vec<NodeName>,
}
