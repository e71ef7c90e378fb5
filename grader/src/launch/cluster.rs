//! The cluster: the nodes of one run, sharing one run directory.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::error::LaunchError;
use super::process::NodeProcess;
use super::spec::NodeSpec;

/// The nodes of one run, sharing one run directory.
///
/// Dropping it SIGKILLs every node's group first and then reaps them all, so
/// teardown takes one kill latency, not one per node.
#[derive(Debug)]
pub struct Cluster {
    run_dir: PathBuf,
    nodes: BTreeMap<String, NodeProcess>,
}

impl Cluster {
    /// A cluster whose files go to `run_dir` (created if missing).
    pub fn new(run_dir: impl Into<PathBuf>) -> Result<Cluster, LaunchError> {
        let run_dir = run_dir.into();
        fs::create_dir_all(&run_dir).map_err(|source| LaunchError::File {
            node: "(none)".to_owned(),
            path: run_dir.clone(),
            source,
        })?;
        Ok(Cluster {
            run_dir,
            nodes: BTreeMap::new(),
        })
    }

    /// The run directory.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Starts a node. Names must be unique within the cluster.
    pub fn spawn(&mut self, spec: NodeSpec) -> Result<&mut NodeProcess, LaunchError> {
        if self.nodes.contains_key(&spec.name) {
            return Err(LaunchError::DuplicateName(spec.name));
        }
        let name = spec.name.clone();
        let node = NodeProcess::spawn(spec, &self.run_dir)?;
        Ok(self.nodes.entry(name).or_insert(node))
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&NodeProcess> {
        self.nodes.get(name)
    }

    /// The node called `name`, mutably (to inject faults).
    pub fn node_mut(&mut self, name: &str) -> Result<&mut NodeProcess, LaunchError> {
        self.nodes
            .get_mut(name)
            .ok_or_else(|| LaunchError::NoSuchNode(name.to_owned()))
    }

    /// Every node's name, sorted.
    pub fn names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// Every node, by name.
    pub fn nodes_mut(&mut self) -> impl Iterator<Item = &mut NodeProcess> {
        self.nodes.values_mut()
    }

    /// Waits until every node is ready, sharing one `timeout`. The first
    /// failure is returned.
    pub async fn wait_all_ready(&mut self, timeout: Duration) -> Result<(), LaunchError> {
        let deadline = Instant::now() + timeout;
        for node in self.nodes.values_mut() {
            let left = deadline.saturating_duration_since(Instant::now());
            node.wait_ready(left).await.map_err(|e| match e {
                // Report the overall timeout, not what was left of it.
                LaunchError::NotReady(mut r) => {
                    r.timeout = timeout;
                    LaunchError::NotReady(r)
                }
                other => other,
            })?;
        }
        Ok(())
    }

    /// Kills (verified) and forgets the node called `name`.
    pub async fn remove(&mut self, name: &str) -> Result<ExitStatus, LaunchError> {
        let mut node = self
            .nodes
            .remove(name)
            .ok_or_else(|| LaunchError::NoSuchNode(name.to_owned()))?;
        node.kill().await
    }

    /// Kills every node and reaps them (blocking briefly).
    pub fn shutdown(&mut self) {
        for node in self.nodes.values() {
            node.kill_signal_blocking();
        }
        for node in self.nodes.values_mut() {
            node.reap_blocking();
        }
        self.nodes.clear();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}
