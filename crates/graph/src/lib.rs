//! `terrace-graph` owns terrace's dependency graph: a petgraph graph of nodes
//! with string ids and edges from a node to what it depends on, cycle
//! detection that names every member of a cycle, topological orders, the
//! subgraph needed for `--target`, DOT/JSON dumps, and the bounded parallel
//! [`walk`] that runs a node once everything it depends on succeeded, skips
//! the dependents of failed nodes, and stops starting work when cancelled.
//!
//! It knows nothing of HCL, resources or the cloud: node payloads are generic.

use futures::stream::{FuturesUnordered, StreamExt};
use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::DiGraph;
pub use petgraph::graph::NodeIndex;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A dependency graph. An edge `a → b` means "a depends on b".
#[derive(Debug, Clone)]
pub struct DepGraph<N> {
    graph: DiGraph<N, ()>,
    ids: HashMap<String, NodeIndex>,
    names: Vec<String>,
}

impl<N> Default for DepGraph<N> {
    fn default() -> Self {
        DepGraph {
            graph: DiGraph::new(),
            ids: HashMap::new(),
            names: Vec::new(),
        }
    }
}

/// A node's id was added twice, or an edge names an unknown id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("duplicate node {0}")]
    Duplicate(String),
    #[error("unknown node {0}")]
    Unknown(String),
}

impl<N> DepGraph<N> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_node(&mut self, id: impl Into<String>, payload: N) -> Result<NodeIndex, GraphError> {
        let id = id.into();
        if self.ids.contains_key(&id) {
            return Err(GraphError::Duplicate(id));
        }
        let ix = self.graph.add_node(payload);
        self.ids.insert(id.clone(), ix);
        self.names.push(id);
        Ok(ix)
    }

    /// Record that `dependent` depends on `dependency` (duplicates ignored).
    pub fn add_dependency(&mut self, dependent: &str, dependency: &str) -> Result<(), GraphError> {
        let a = self
            .index(dependent)
            .ok_or_else(|| GraphError::Unknown(dependent.to_string()))?;
        let b = self
            .index(dependency)
            .ok_or_else(|| GraphError::Unknown(dependency.to_string()))?;
        self.graph.update_edge(a, b, ());
        Ok(())
    }

    pub fn add_dependency_ix(&mut self, dependent: NodeIndex, dependency: NodeIndex) {
        self.graph.update_edge(dependent, dependency, ());
    }

    pub fn index(&self, id: &str) -> Option<NodeIndex> {
        self.ids.get(id).copied()
    }

    pub fn id(&self, ix: NodeIndex) -> &str {
        &self.names[ix.index()]
    }

    pub fn payload(&self, ix: NodeIndex) -> &N {
        &self.graph[ix]
    }

    pub fn payload_mut(&mut self, ix: NodeIndex) -> &mut N {
        &mut self.graph[ix]
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    pub fn node_indices(&self) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.node_indices()
    }

    /// What `ix` depends on directly.
    pub fn dependencies(&self, ix: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.neighbors_directed(ix, Direction::Outgoing)
    }

    /// What depends on `ix` directly.
    pub fn dependents(&self, ix: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.neighbors_directed(ix, Direction::Incoming)
    }

    /// Every cycle (strongly connected component of more than one node, or a
    /// node depending on itself), each as its member ids in a stable order.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = tarjan_scc(&self.graph)
            .into_iter()
            .filter(|scc| scc.len() > 1 || self.graph.contains_edge(scc[0], scc[0]))
            .map(|scc| {
                let mut ids: Vec<String> = scc.iter().map(|ix| self.id(*ix).to_string()).collect();
                ids.sort();
                ids
            })
            .collect();
        out.sort();
        out
    }

    /// Dependencies before dependents. Errors with the cycles if there are any.
    pub fn topo_order(&self) -> Result<Vec<NodeIndex>, Vec<Vec<String>>> {
        let n = self.graph.node_count();
        let mut remaining: Vec<usize> = (0..n)
            .map(|i| self.dependencies(NodeIndex::new(i)).count())
            .collect();
        let mut queue: VecDeque<NodeIndex> = (0..n)
            .filter(|i| remaining[*i] == 0)
            .map(NodeIndex::new)
            .collect();
        let mut order = Vec::with_capacity(n);
        while let Some(ix) = queue.pop_front() {
            order.push(ix);
            for d in self.dependents(ix) {
                remaining[d.index()] -= 1;
                if remaining[d.index()] == 0 {
                    queue.push_back(d);
                }
            }
        }
        if order.len() == n {
            Ok(order)
        } else {
            Err(self.cycles())
        }
    }

    /// `roots` and everything they depend on, transitively.
    pub fn with_dependencies(&self, roots: &[NodeIndex]) -> HashSet<NodeIndex> {
        let mut seen: HashSet<NodeIndex> = HashSet::new();
        let mut stack: Vec<NodeIndex> = roots.to_vec();
        while let Some(ix) = stack.pop() {
            if seen.insert(ix) {
                stack.extend(self.dependencies(ix));
            }
        }
        seen
    }

    /// `roots` and everything that depends on them, transitively.
    pub fn with_dependents(&self, roots: &[NodeIndex]) -> HashSet<NodeIndex> {
        let mut seen: HashSet<NodeIndex> = HashSet::new();
        let mut stack: Vec<NodeIndex> = roots.to_vec();
        while let Some(ix) = stack.pop() {
            if seen.insert(ix) {
                stack.extend(self.dependents(ix));
            }
        }
        seen
    }

    /// Graphviz DOT, nodes and edges sorted for stable output.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph terrace {\n  rankdir = \"RL\";\n");
        let mut nodes: Vec<&str> = self.names.iter().map(String::as_str).collect();
        nodes.sort();
        for id in nodes {
            out.push_str(&format!("  {};\n", dot_quote(id)));
        }
        for (a, b) in self.sorted_edges() {
            out.push_str(&format!("  {} -> {};\n", dot_quote(a), dot_quote(b)));
        }
        out.push_str("}\n");
        out
    }

    /// Edges as (dependent, dependency) id pairs, sorted.
    pub fn sorted_edges(&self) -> Vec<(&str, &str)> {
        let mut edges: Vec<(&str, &str)> = self
            .graph
            .edge_indices()
            .filter_map(|e| self.graph.edge_endpoints(e))
            .map(|(a, b)| (self.id(a), self.id(b)))
            .collect();
        edges.sort();
        edges
    }
}

fn dot_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// How a node of a walk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeOutcome {
    Succeeded,
    Failed(String),
    /// Not run: something it depends on failed or was skipped.
    Skipped,
    /// Not run: the walk was cancelled first.
    Cancelled,
}

/// Stops a walk from starting new nodes; nodes in flight finish.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Which way a walk goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkOrder {
    /// Dependencies first (create, update).
    DependenciesFirst,
    /// Dependents first (delete).
    DependentsFirst,
}

/// Walk `nodes` (a subset of the graph; edges to nodes outside it are
/// ignored) with at most `parallelism` visits in flight. A node runs once
/// every node it waits for succeeded; if one failed or was skipped, it is
/// skipped. Returns every node's outcome.
pub async fn walk<N, F, Fut>(
    graph: &DepGraph<N>,
    nodes: &HashSet<NodeIndex>,
    order: WalkOrder,
    parallelism: usize,
    cancel: &CancelFlag,
    visit: F,
) -> HashMap<NodeIndex, NodeOutcome>
where
    F: Fn(NodeIndex) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let parallelism = parallelism.max(1);
    let waits_for = |ix: NodeIndex| -> Vec<NodeIndex> {
        match order {
            WalkOrder::DependenciesFirst => graph
                .dependencies(ix)
                .filter(|d| nodes.contains(d))
                .collect(),
            WalkOrder::DependentsFirst => {
                graph.dependents(ix).filter(|d| nodes.contains(d)).collect()
            }
        }
    };
    let unblocks = |ix: NodeIndex| -> Vec<NodeIndex> {
        match order {
            WalkOrder::DependenciesFirst => {
                graph.dependents(ix).filter(|d| nodes.contains(d)).collect()
            }
            WalkOrder::DependentsFirst => graph
                .dependencies(ix)
                .filter(|d| nodes.contains(d))
                .collect(),
        }
    };
    let mut pending: HashMap<NodeIndex, usize> =
        nodes.iter().map(|ix| (*ix, waits_for(*ix).len())).collect();
    let mut blocked: HashSet<NodeIndex> = HashSet::new();
    let mut ready: VecDeque<NodeIndex> = {
        let mut r: Vec<NodeIndex> = pending
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(ix, _)| *ix)
            .collect();
        r.sort();
        r.into()
    };
    let mut outcomes: HashMap<NodeIndex, NodeOutcome> = HashMap::new();
    let mut in_flight = FuturesUnordered::new();

    loop {
        while in_flight.len() < parallelism && !cancel.is_cancelled() {
            let Some(ix) = ready.pop_front() else { break };
            if blocked.contains(&ix) {
                outcomes.insert(ix, NodeOutcome::Skipped);
                release(ix, false, &unblocks, &mut pending, &mut blocked, &mut ready);
                continue;
            }
            let fut = visit(ix);
            in_flight.push(async move { (ix, fut.await) });
        }
        let Some((ix, result)) = in_flight.next().await else {
            break;
        };
        let ok = result.is_ok();
        outcomes.insert(
            ix,
            match result {
                Ok(()) => NodeOutcome::Succeeded,
                Err(e) => NodeOutcome::Failed(e),
            },
        );
        release(ix, ok, &unblocks, &mut pending, &mut blocked, &mut ready);
    }
    // Whatever never ran was cancelled, or skipped behind a failure.
    for ix in nodes {
        outcomes.entry(*ix).or_insert_with(|| {
            if blocked.contains(ix) && !cancel.is_cancelled() {
                NodeOutcome::Skipped
            } else {
                NodeOutcome::Cancelled
            }
        });
    }
    outcomes
}

fn release(
    ix: NodeIndex,
    ok: bool,
    unblocks: &dyn Fn(NodeIndex) -> Vec<NodeIndex>,
    pending: &mut HashMap<NodeIndex, usize>,
    blocked: &mut HashSet<NodeIndex>,
    ready: &mut VecDeque<NodeIndex>,
) {
    for d in unblocks(ix) {
        if !ok {
            blocked.insert(d);
        }
        if let Some(n) = pending.get_mut(&d) {
            *n -= 1;
            if *n == 0 {
                ready.push_back(d);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn chain() -> DepGraph<()> {
        // c depends on b, b on a; d independent.
        let mut g = DepGraph::new();
        for id in ["a", "b", "c", "d"] {
            g.add_node(id, ()).unwrap();
        }
        g.add_dependency("b", "a").unwrap();
        g.add_dependency("c", "b").unwrap();
        g
    }

    fn all(g: &DepGraph<()>) -> HashSet<NodeIndex> {
        g.node_indices().collect()
    }

    #[test]
    fn topo_order_puts_dependencies_first() {
        let g = chain();
        let order: Vec<&str> = g
            .topo_order()
            .unwrap()
            .into_iter()
            .map(|ix| g.id(ix))
            .collect();
        let pos = |id| order.iter().position(|x| *x == id).unwrap();
        assert!(pos("a") < pos("b") && pos("b") < pos("c"));
    }

    #[test]
    fn cycles_name_every_member() {
        let mut g = chain();
        g.add_dependency("a", "c").unwrap();
        assert_eq!(
            g.cycles(),
            vec![vec!["a".to_string(), "b".into(), "c".into()]]
        );
        assert!(g.topo_order().is_err());
        let mut s = DepGraph::new();
        s.add_node("x", ()).unwrap();
        s.add_dependency("x", "x").unwrap();
        assert_eq!(s.cycles(), vec![vec!["x".to_string()]]);
    }

    #[test]
    fn duplicate_and_unknown_nodes_are_errors() {
        let mut g = chain();
        assert_eq!(g.add_node("a", ()), Err(GraphError::Duplicate("a".into())));
        assert_eq!(
            g.add_dependency("a", "zz"),
            Err(GraphError::Unknown("zz".into()))
        );
    }

    #[tokio::test]
    async fn walk_skips_dependents_of_failures_and_finishes_the_rest() {
        let g = chain();
        let visited = Mutex::new(Vec::new());
        let out = walk(
            &g,
            &all(&g),
            WalkOrder::DependenciesFirst,
            4,
            &CancelFlag::new(),
            |ix| {
                let id = g.id(ix).to_string();
                visited.lock().unwrap().push(id.clone());
                async move {
                    if id == "b" {
                        Err("boom".to_string())
                    } else {
                        Ok(())
                    }
                }
            },
        )
        .await;
        let by_id = |id: &str| out[&g.index(id).unwrap()].clone();
        assert_eq!(by_id("a"), NodeOutcome::Succeeded);
        assert_eq!(by_id("b"), NodeOutcome::Failed("boom".into()));
        assert_eq!(by_id("c"), NodeOutcome::Skipped);
        assert_eq!(by_id("d"), NodeOutcome::Succeeded);
        assert!(!visited.lock().unwrap().contains(&"c".to_string()));
    }

    #[tokio::test]
    async fn reverse_walk_visits_dependents_first() {
        let g = chain();
        let visited = Mutex::new(Vec::new());
        walk(
            &g,
            &all(&g),
            WalkOrder::DependentsFirst,
            1,
            &CancelFlag::new(),
            |ix| {
                visited.lock().unwrap().push(g.id(ix).to_string());
                async { Ok(()) }
            },
        )
        .await;
        let v = visited.lock().unwrap().clone();
        let pos = |id: &str| v.iter().position(|x| x == id).unwrap();
        assert!(pos("c") < pos("b") && pos("b") < pos("a"));
    }

    #[tokio::test]
    async fn cancel_stops_new_work() {
        let g = chain();
        let cancel = CancelFlag::new();
        let out = walk(
            &g,
            &all(&g),
            WalkOrder::DependenciesFirst,
            1,
            &cancel,
            |ix| {
                if g.id(ix) == "a" {
                    cancel.cancel();
                }
                async { Ok(()) }
            },
        )
        .await;
        assert_eq!(out[&g.index("a").unwrap()], NodeOutcome::Succeeded);
        assert_eq!(out[&g.index("c").unwrap()], NodeOutcome::Cancelled);
    }

    #[tokio::test]
    async fn parallelism_is_bounded() {
        let mut g: DepGraph<()> = DepGraph::new();
        for i in 0..20 {
            g.add_node(format!("n{i}"), ()).unwrap();
        }
        let live = std::sync::atomic::AtomicUsize::new(0);
        let peak = std::sync::atomic::AtomicUsize::new(0);
        walk(
            &g,
            &all(&g),
            WalkOrder::DependenciesFirst,
            3,
            &CancelFlag::new(),
            |_| {
                let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let live = &live;
                async move {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    live.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                }
            },
        )
        .await;
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }
}
