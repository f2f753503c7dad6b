//! The dialog tree: nodes in an arena, children ordered from `parent` / `previous_sibling`,
//! and the structural validation of spec §2.2 (broken trees are load problems).

use std::collections::{HashMap, HashSet};

use crate::compile::{ActionSpec, Cond, OutputSpec, ValueTpl};
use crate::Problem;

/// Index of a node in [`Tree::nodes`].
pub(crate) type NodeId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Standard,
    Frame,
    Slot,
    ResponseCondition,
    EventHandler,
    Folder,
}

impl Kind {
    pub(crate) fn parse(s: Option<&str>) -> Option<Kind> {
        Some(match s.unwrap_or("standard") {
            "standard" => Kind::Standard,
            "frame" => Kind::Frame,
            "slot" => Kind::Slot,
            "response_condition" => Kind::ResponseCondition,
            "event_handler" => Kind::EventHandler,
            "folder" => Kind::Folder,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Focus,
    Input,
    Filled,
    Generic,
    Nomatch,
    DigressionReturnPrompt,
    /// `validate`, `filled_multiple`, `nomatch_responses_depleted`: accepted, not run.
    Other,
}

impl Event {
    pub(crate) fn parse(s: &str) -> Event {
        match s {
            "focus" => Event::Focus,
            "input" => Event::Input,
            "filled" => Event::Filled,
            "generic" => Event::Generic,
            "nomatch" => Event::Nomatch,
            "digression_return_prompt" => Event::DigressionReturnPrompt,
            _ => Event::Other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DigressIn {
    NotAvailable,
    Returns,
    DoesNotReturn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // the names are Watson's values
pub(crate) enum DigressOut {
    AllowReturning,
    AllowAll,
    AllowAllNeverReturn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DigressOutSlots {
    NotAllowed,
    AllowReturning,
    AllowAll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Selector {
    Condition,
    Body,
    UserInput,
}

/// `next_step.behavior` (with the jump target resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behavior {
    GetUserInput,
    SkipUserInput,
    JumpTo { target: NodeId, selector: Selector },
    Reprompt,
    SkipSlot,
    SkipAllSlots,
}

/// A compiled dialog node.
#[derive(Debug)]
pub(crate) struct Node {
    pub id: String,
    pub title: Option<String>,
    pub kind: Kind,
    pub parent: Option<NodeId>,
    pub cond: Cond,
    pub cond_src: Option<String>,
    pub output: Option<OutputSpec>,
    pub context: Option<Vec<(String, ValueTpl)>>,
    pub next: Option<Behavior>,
    pub actions: Vec<ActionSpec>,
    pub event: Option<Event>,
    /// Slot variable without the leading `$`.
    pub variable: Option<String>,
    pub digress_in: Option<DigressIn>,
    pub digress_out: Option<DigressOut>,
    pub digress_out_slots: Option<DigressOutSlots>,
    pub disabled: bool,
    /// Enabled `standard` / `frame` / `folder` children, in order.
    pub flow: Vec<NodeId>,
    /// Enabled `response_condition` children, in order.
    pub responses: Vec<NodeId>,
    /// Enabled `slot` children, in order (only filled in for frames).
    pub slots: Vec<NodeId>,
    /// Enabled `event_handler` children, in order.
    pub handlers: Vec<NodeId>,
    /// Entity names an `input` handler's condition reads (a mention it used is consumed).
    pub entity_refs: Vec<String>,
}

impl Node {
    pub(crate) fn is_frame(&self) -> bool {
        self.kind == Kind::Frame && !self.slots.is_empty()
    }
}

/// One entry of a flattened evaluation list: a node and the folders it sits in (outermost
/// first) whose conditions must hold for it to be considered.
#[derive(Debug, Clone)]
pub(crate) struct FlowEntry {
    pub node: NodeId,
    pub folders: Vec<NodeId>,
}

/// The whole tree.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub nodes: Vec<Node>,
    pub by_id: HashMap<String, NodeId>,
    /// Root-level flow (folders flattened).
    pub root: Vec<FlowEntry>,
    /// Per node: its flow children with folders flattened.
    pub flat: Vec<Vec<FlowEntry>>,
}

impl Tree {
    /// The node whose children list (flattened) holds `n`: the first non-folder ancestor.
    pub(crate) fn effective_parent(&self, n: NodeId) -> Option<NodeId> {
        let mut p = self.nodes[n].parent;
        while let Some(pid) = p {
            if self.nodes[pid].kind != Kind::Folder {
                return Some(pid);
            }
            p = self.nodes[pid].parent;
        }
        None
    }

    /// The flattened evaluation list that contains `n`.
    pub(crate) fn sibling_list(&self, n: NodeId) -> &[FlowEntry] {
        match self.effective_parent(n) {
            Some(p) => &self.flat[p],
            None => &self.root,
        }
    }

    /// `digress_in` of a root node, inherited from its folders; default `does_not_return`.
    pub(crate) fn digress_in(&self, n: NodeId) -> DigressIn {
        let mut cur = Some(n);
        while let Some(c) = cur {
            if let Some(d) = self.nodes[c].digress_in {
                return d;
            }
            cur = self.nodes[c]
                .parent
                .filter(|&p| self.nodes[p].kind == Kind::Folder);
        }
        DigressIn::DoesNotReturn
    }
}

/// Order children of every parent from the `previous_sibling` links; report broken links.
/// `parents[i]` / `prevs[i]` are the raw ids of node i. Returns ordered children per node
/// (and for the root) as node indices.
pub(crate) fn order_children(
    ids: &[String],
    parents: &[Option<String>],
    prevs: &[Option<String>],
    by_id: &HashMap<String, NodeId>,
    problems: &mut Vec<Problem>,
) -> (Vec<Option<NodeId>>, Vec<Vec<NodeId>>, Vec<NodeId>) {
    let n = ids.len();
    let mut parent_of: Vec<Option<NodeId>> = vec![None; n];
    for i in 0..n {
        if let Some(p) = parents[i].as_deref() {
            match by_id.get(p) {
                Some(&pi) if pi != i => parent_of[i] = Some(pi),
                Some(_) => problems.push(Problem::new(
                    &ids[i],
                    "parent",
                    "a node cannot be its own parent",
                )),
                None => problems.push(Problem::new(
                    &ids[i],
                    "parent",
                    format!("unknown parent node {p:?}"),
                )),
            }
        }
    }
    // Parent cycles, in linear time: walk up from every node, marking the path.
    // 0 = not seen, 1 = on the current path, 2 = known to reach the root.
    let mut mark = vec![0u8; n];
    for i in 0..n {
        let mut path = Vec::new();
        let mut cur = Some(i);
        while let Some(c) = cur {
            match mark[c] {
                2 => break,
                1 => {
                    problems.push(Problem::new(
                        &ids[c],
                        "parent",
                        "the parent chain forms a cycle",
                    ));
                    parent_of[c] = None;
                    break;
                }
                _ => {
                    mark[c] = 1;
                    path.push(c);
                    cur = parent_of[c];
                }
            }
        }
        for p in path {
            mark[p] = 2;
        }
    }
    // Group by parent (None = root, index n).
    let mut groups: Vec<Vec<NodeId>> = vec![Vec::new(); n + 1];
    for i in 0..n {
        groups[parent_of[i].unwrap_or(n)].push(i);
    }
    let mut ordered: Vec<Vec<NodeId>> = vec![Vec::new(); n + 1];
    for (g, members) in groups.iter().enumerate() {
        if members.is_empty() {
            continue;
        }
        let mut first: Vec<NodeId> = Vec::new();
        let mut next_of: HashMap<NodeId, NodeId> = HashMap::new();
        for &m in members {
            match prevs[m].as_deref() {
                None => first.push(m),
                Some(p) => match by_id.get(p) {
                    Some(&pi) if parent_of[pi].unwrap_or(n) == g && pi != m => {
                        if let Some(other) = next_of.insert(pi, m) {
                            problems.push(Problem::new(
                                &ids[m],
                                "previous_sibling",
                                format!(
                                    "node {:?} has the same previous sibling {p:?}",
                                    ids[other]
                                ),
                            ));
                        }
                    }
                    Some(_) => problems.push(Problem::new(
                        &ids[m],
                        "previous_sibling",
                        format!("previous sibling {p:?} does not share this node's parent"),
                    )),
                    None => problems.push(Problem::new(
                        &ids[m],
                        "previous_sibling",
                        format!("unknown previous sibling {p:?}"),
                    )),
                },
            }
        }
        if first.len() != 1 {
            let who = if g == n {
                "the root level".to_string()
            } else {
                format!("children of {:?}", ids[g])
            };
            problems.push(Problem::new(
                if first.is_empty() {
                    members.first().map(|&m| ids[m].as_str()).unwrap_or("")
                } else {
                    &ids[first[1]]
                },
                "previous_sibling",
                format!(
                    "{who} must have exactly one first node (no previous_sibling), found {}",
                    first.len()
                ),
            ));
        }
        let mut out = Vec::with_capacity(members.len());
        let mut seen = HashSet::new();
        for &f in &first {
            let mut cur = Some(f);
            while let Some(c) = cur {
                if !seen.insert(c) {
                    break;
                }
                out.push(c);
                cur = next_of.get(&c).copied();
            }
        }
        if out.len() != members.len() {
            for &m in members {
                if !seen.contains(&m) {
                    problems.push(Problem::new(
                        &ids[m],
                        "previous_sibling",
                        "node is not reachable through the previous_sibling chain",
                    ));
                }
            }
        }
        ordered[g] = out;
    }
    let root = ordered.pop().unwrap_or_default();
    (parent_of, ordered, root)
}

/// Folders nested deeper than this are ignored (no real skill comes close).
const MAX_FOLDER_DEPTH: usize = 32;

/// Flatten a list of children: folders are replaced by their (enabled) flow children.
pub(crate) fn flatten(
    nodes: &[Node],
    list: &[NodeId],
    folders: &mut Vec<NodeId>,
    out: &mut Vec<FlowEntry>,
) {
    for &c in list {
        let node = &nodes[c];
        if node.disabled {
            continue;
        }
        if node.kind == Kind::Folder {
            // Cycles are rejected at load; the depth cap keeps absurd nesting off the stack.
            if folders.contains(&c) || folders.len() >= MAX_FOLDER_DEPTH {
                continue;
            }
            folders.push(c);
            flatten(nodes, &node.flow, folders, out);
            folders.pop();
        } else {
            out.push(FlowEntry {
                node: c,
                folders: folders.clone(),
            });
        }
    }
}
