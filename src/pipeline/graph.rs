//! The step graph: list order and `parallel:` groups lowered to dependencies, a topological
//! order close to the file's, cycles, and ancestor sets. Nodes are numbered in file order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Dependencies of every node. `entries` are the members of each entry of `steps:` (one node
/// for a step, several for a `parallel:` group); `explicit[i]` is node `i`'s `needs`, if any.
///
/// A node without `needs` depends on every member of the entry before its own (nothing for the
/// first entry), so a group's members all start together and the entry after a group waits for
/// all of them. `needs` replaces that implicit dependency.
pub(crate) fn lower(entries: &[Vec<usize>], explicit: &[Option<Vec<usize>>]) -> Vec<Vec<usize>> {
    let mut deps = vec![Vec::new(); explicit.len()];
    let mut before: &[usize] = &[];
    for members in entries {
        for &node in members {
            deps[node] = match &explicit[node] {
                Some(needs) => dedup(needs),
                None => before.to_vec(),
            };
        }
        before = members;
    }
    deps
}

fn dedup(items: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::with_capacity(items.len());
    for &item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// A topological order that, among the nodes ready to run, always takes the earliest in the
/// file, so a file without `needs` keeps its order. On a cycle, returns the nodes of one cycle
/// `[a, b, c]`, meaning a needs b, b needs c and c needs a, starting at its earliest node.
pub(crate) fn topo_order(deps: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = deps.len();
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents = vec![Vec::new(); n];
    for (node, needs) in deps.iter().enumerate() {
        for &dep in needs {
            dependents[dep].push(node);
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..n)
        .filter(|&node| waiting[node] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(node)) = ready.pop() {
        order.push(node);
        for &next in &dependents[node] {
            waiting[next] -= 1;
            if waiting[next] == 0 {
                ready.push(Reverse(next));
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    Err(find_cycle(deps, &waiting))
}

/// Every node left `waiting` has a dependency that is also waiting, so following such
/// dependencies from any of them must come back to a node already seen.
fn find_cycle(deps: &[Vec<usize>], waiting: &[usize]) -> Vec<usize> {
    let Some(start) = (0..deps.len()).find(|&node| waiting[node] > 0) else {
        return Vec::new();
    };
    let mut seen_at = vec![usize::MAX; deps.len()];
    let mut path = Vec::new();
    let mut node = start;
    while seen_at[node] == usize::MAX {
        seen_at[node] = path.len();
        path.push(node);
        match deps[node].iter().copied().find(|&dep| waiting[dep] > 0) {
            Some(dep) => node = dep,
            None => return path,
        }
    }
    let mut cycle = path.split_off(seen_at[node]);
    if let Some(first) = cycle
        .iter()
        .enumerate()
        .min_by_key(|(_, node)| **node)
        .map(|(i, _)| i)
    {
        cycle.rotate_left(first);
    }
    cycle
}

/// A set of nodes.
#[derive(Debug, Clone)]
pub(crate) struct NodeSet(Vec<u64>);

impl NodeSet {
    pub(crate) fn new(n: usize) -> Self {
        NodeSet(vec![0; n.div_ceil(64)])
    }

    pub(crate) fn insert(&mut self, node: usize) -> bool {
        let (word, bit) = (node / 64, 1u64 << (node % 64));
        let fresh = self.0[word] & bit == 0;
        self.0[word] |= bit;
        fresh
    }

    pub(crate) fn union_with(&mut self, other: &NodeSet) {
        for (word, theirs) in self.0.iter_mut().zip(&other.0) {
            *word |= theirs;
        }
    }

    pub(crate) fn contains(&self, node: usize) -> bool {
        self.0
            .get(node / 64)
            .is_some_and(|word| word & (1u64 << (node % 64)) != 0)
    }
}

/// Every node `node` depends on, directly or not: the plain definition, which tests hold
/// [`all_ancestors`] to.
#[cfg(test)]
pub(crate) fn ancestors(deps: &[Vec<usize>], node: usize) -> NodeSet {
    let mut set = NodeSet::new(deps.len());
    let mut stack: Vec<usize> = deps[node].clone();
    while let Some(next) = stack.pop() {
        if set.insert(next) {
            stack.extend(deps[next].iter().copied());
        }
    }
    set
}

/// The ancestors of every node, built along a topological `order` so that each node's set is
/// the union of its dependencies' sets: O(edges × nodes / 64) words of work.
pub(crate) fn all_ancestors(deps: &[Vec<usize>], order: &[usize]) -> Vec<NodeSet> {
    let mut sets = vec![NodeSet::new(0); deps.len()];
    for &node in order {
        let mut set = NodeSet::new(deps.len());
        for &dep in &deps[node] {
            set.insert(dep);
            set.union_with(&sets[dep]);
        }
        sets[node] = set;
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries written as `"a"` or `"a|b|c"` (a parallel group); `needs` as `("c", "a b")`.
    fn graph(entries: &[&str], needs: &[(&str, &str)]) -> (Vec<String>, Vec<Vec<usize>>) {
        let mut names = Vec::new();
        let mut members = Vec::new();
        for entry in entries {
            let mut group = Vec::new();
            for name in entry.split('|') {
                group.push(names.len());
                names.push(name.to_string());
            }
            members.push(group);
        }
        let index = |name: &str| names.iter().position(|n| n == name).unwrap();
        let mut explicit = vec![None; names.len()];
        for (node, list) in needs {
            explicit[index(node)] = Some(list.split_whitespace().map(index).collect());
        }
        let deps = lower(&members, &explicit);
        (names, deps)
    }

    fn deps_of(names: &[String], deps: &[Vec<usize>], node: &str) -> String {
        let i = names.iter().position(|n| n == node).unwrap();
        let mut named: Vec<&str> = deps[i].iter().map(|&d| names[d].as_str()).collect();
        named.sort();
        named.join(" ")
    }

    fn order(names: &[String], deps: &[Vec<usize>]) -> String {
        let order = topo_order(deps).unwrap();
        order
            .iter()
            .map(|&i| names[i].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn steps_without_needs_run_in_list_order() {
        let (names, deps) = graph(&["a", "b", "c"], &[]);
        assert_eq!(deps_of(&names, &deps, "a"), "");
        assert_eq!(deps_of(&names, &deps, "b"), "a");
        assert_eq!(deps_of(&names, &deps, "c"), "b");
        assert_eq!(order(&names, &deps), "a b c");
    }

    #[test]
    fn group_members_share_the_entry_before_and_the_next_entry_waits_for_all() {
        let (names, deps) = graph(&["build", "eu|us|ap", "announce"], &[]);
        for member in ["eu", "us", "ap"] {
            assert_eq!(deps_of(&names, &deps, member), "build");
        }
        assert_eq!(deps_of(&names, &deps, "announce"), "ap eu us");
        assert_eq!(order(&names, &deps), "build eu us ap announce");
    }

    #[test]
    fn a_group_first_in_the_list_depends_on_nothing() {
        let (names, deps) = graph(&["x|y", "z"], &[]);
        assert_eq!(deps_of(&names, &deps, "x"), "");
        assert_eq!(deps_of(&names, &deps, "z"), "x y");
    }

    #[test]
    fn needs_replaces_the_implicit_dependency_also_inside_a_group() {
        let (names, deps) = graph(
            &["build", "lint", "eu|us", "announce"],
            &[("eu", "build"), ("lint", "")],
        );
        assert_eq!(deps_of(&names, &deps, "lint"), "");
        assert_eq!(deps_of(&names, &deps, "eu"), "build");
        assert_eq!(deps_of(&names, &deps, "us"), "lint");
        assert_eq!(deps_of(&names, &deps, "announce"), "eu us");
    }

    #[test]
    fn the_order_keeps_the_file_order_where_needs_allow() {
        // `report` needs `late`, which comes after it in the file.
        let (names, deps) = graph(
            &["a", "report", "b", "late"],
            &[("report", "late"), ("late", "a")],
        );
        assert_eq!(order(&names, &deps), "a late report b");
        // Independent roots keep their file order.
        let (names, deps) = graph(&["x", "y", "z"], &[("x", ""), ("y", ""), ("z", "")]);
        assert_eq!(order(&names, &deps), "x y z");
    }

    #[test]
    fn repeated_needs_count_once() {
        let (names, deps) = graph(&["a", "b"], &[("b", "a a")]);
        assert_eq!(deps_of(&names, &deps, "b"), "a");
        assert_eq!(order(&names, &deps), "a b");
    }

    #[test]
    fn a_cycle_is_reported_from_its_earliest_step() {
        let (names, deps) = graph(&["a", "b", "c"], &[("a", "c")]);
        let cycle: Vec<&str> = topo_order(&deps)
            .unwrap_err()
            .iter()
            .map(|&i| names[i].as_str())
            .collect();
        assert_eq!(cycle, ["a", "c", "b"]);
    }

    #[test]
    fn a_cycle_through_implicit_list_order_is_found() {
        // late follows b, b follows report, and report needs late.
        let (names, deps) = graph(&["a", "report", "b", "late"], &[("report", "late")]);
        let cycle: Vec<&str> = topo_order(&deps)
            .unwrap_err()
            .iter()
            .map(|&i| names[i].as_str())
            .collect();
        assert_eq!(cycle, ["report", "late", "b"]);
    }

    #[test]
    fn a_cycle_behind_an_acyclic_part_is_found() {
        let (names, deps) = graph(&["root", "x", "y", "tail"], &[("x", "y"), ("y", "x")]);
        let cycle: Vec<&str> = topo_order(&deps)
            .unwrap_err()
            .iter()
            .map(|&i| names[i].as_str())
            .collect();
        assert_eq!(cycle, ["x", "y"]);
    }

    #[test]
    fn ancestors_are_transitive() {
        let (names, deps) = graph(&["a", "b|c", "d"], &[("c", "")]);
        let index = |n: &str| names.iter().position(|x| x == n).unwrap();
        let set = ancestors(&deps, index("d"));
        assert!(set.contains(index("a")) && set.contains(index("b")) && set.contains(index("c")));
        assert!(!set.contains(index("d")));
        let set = ancestors(&deps, index("c"));
        assert!(!set.contains(index("a")));
        let all = all_ancestors(&deps, &topo_order(&deps).unwrap());
        for (node, set) in all.iter().enumerate() {
            let one = ancestors(&deps, node);
            for other in 0..names.len() {
                assert_eq!(set.contains(other), one.contains(other), "{node} {other}");
            }
        }
    }

    #[test]
    fn a_long_chain_is_linear_work() {
        let n = 100_000;
        let deps: Vec<Vec<usize>> = (0..n)
            .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
            .collect();
        let order = topo_order(&deps).unwrap();
        assert_eq!(order.len(), n);
        assert!(ancestors(&deps, n - 1).contains(0));
    }
}
