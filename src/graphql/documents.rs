//! Parsed GraphQL documents, checked against the document limits and kept by query text. Clients
//! send the same few operations over and over; parsing one again cost a GraphQL create about a
//! sixth of its CPU (bench/profile.sh).
//!
//! The limits here are the ones async-graphql has no setting for, or that must hold before its
//! (recursive) parser runs: document size and nesting, fields once fragments are expanded,
//! aliases, root fields. Depth and cost are async-graphql's own (`schema.rs`).

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Positioned};
use lru::LruCache;

use super::loaders::Shown;

use crate::limits::{
    MAX_GRAPHQL_ALIASES, MAX_GRAPHQL_FIELDS, MAX_GRAPHQL_NESTING, MAX_GRAPHQL_QUERY_BYTES,
    MAX_GRAPHQL_ROOT_FIELDS, graphql_nesting_exceeds,
};

/// Distinct operations kept; the least recently used one goes first.
const CAPACITY: NonZeroUsize = NonZeroUsize::new(256).expect("non-zero");
/// Longer queries are parsed every time rather than held in memory.
const MAX_CACHED_QUERY_BYTES: usize = 16 * 1024;

/// What a request's document decides about its execution, worked out once per document.
#[derive(Clone)]
pub struct DocumentFacts {
    /// The columns the reads for it bring back.
    pub shown: Arc<Shown>,
    /// Whether the plain path may answer it (no selection set repeats a response key).
    pub plain_answers: bool,
}

impl DocumentFacts {
    fn of(document: Option<&ExecutableDocument>) -> Self {
        DocumentFacts {
            shown: Arc::new(Shown::by(document)),
            plain_answers: document.is_some_and(|document| !repeats_a_response_key(document)),
        }
    }
}

struct Prepared {
    document: ExecutableDocument,
    facts: DocumentFacts,
}

pub struct ParsedQueries(Mutex<LruCache<String, Prepared>>);

impl Default for ParsedQueries {
    fn default() -> Self {
        ParsedQueries(Mutex::new(LruCache::new(CAPACITY)))
    }
}

impl ParsedQueries {
    /// Gives `request` its parsed document, from the cache or parsed and checked now, and says
    /// what the document decides; or the reason it is refused. A query that does not parse is
    /// left alone: executing it reports the syntax error as usual.
    pub fn prepare(&self, request: &mut async_graphql::Request) -> Result<DocumentFacts, String> {
        let cached = (request.query.len() <= MAX_CACHED_QUERY_BYTES)
            .then(|| {
                let mut cache = self.0.lock().expect("query cache");
                let prepared = cache.get(&request.query)?;
                Some((prepared.document.clone(), prepared.facts.clone()))
            })
            .flatten();
        if let Some((document, facts)) = cached {
            request.set_parsed_query(document);
            return Ok(facts);
        }
        check_text(&request.query)?;
        let query = request.query.clone();
        let Ok(document) = request.parsed_query() else {
            return Ok(DocumentFacts::of(None));
        };
        check_shape(document)?;
        let facts = DocumentFacts::of(Some(document));
        if query.len() <= MAX_CACHED_QUERY_BYTES {
            let prepared = Prepared {
                document: document.clone(),
                facts: facts.clone(),
            };
            self.0.lock().expect("query cache").put(query, prepared);
        }
        Ok(facts)
    }
}

/// The limits that hold on the text itself, before it is parsed.
fn check_text(query: &str) -> Result<(), String> {
    if query.len() > MAX_GRAPHQL_QUERY_BYTES {
        return Err(format!(
            "Query is too large: at most {MAX_GRAPHQL_QUERY_BYTES} bytes."
        ));
    }
    if graphql_nesting_exceeds(query, MAX_GRAPHQL_NESTING) {
        return Err(format!(
            "Query nests too deeply: at most {MAX_GRAPHQL_NESTING} levels."
        ));
    }
    Ok(())
}

/// Counts of a document: fields with every fragment spread expanded (saturating, so that
/// fragments spreading each other many times over cannot overflow), aliases, root fields.
struct Shape<'a> {
    document: &'a ExecutableDocument,
    /// Expanded field counts of the fragments seen so far; `None` while one is being counted,
    /// so that a cycle counts as too many (validation refuses cycles anyway).
    fragments: HashMap<&'a Name, Option<usize>>,
    aliases: usize,
}

impl<'a> Shape<'a> {
    fn fields(&mut self, set: &'a Positioned<SelectionSet>) -> usize {
        let mut count = 0usize;
        for selection in &set.node.items {
            let more = match &selection.node {
                Selection::Field(field) => {
                    if field.node.alias.is_some() {
                        self.aliases += 1;
                    }
                    1usize.saturating_add(self.fields(&field.node.selection_set))
                }
                Selection::InlineFragment(fragment) => self.fields(&fragment.node.selection_set),
                Selection::FragmentSpread(spread) => self.fragment(&spread.node.fragment_name.node),
            };
            count = count.saturating_add(more);
        }
        count
    }

    fn fragment(&mut self, name: &'a Name) -> usize {
        match self.fragments.get(name) {
            Some(Some(count)) => *count,
            Some(None) => usize::MAX,
            None => {
                let Some(fragment) = self.document.fragments.get(name) else {
                    return 0;
                };
                self.fragments.insert(name, None);
                let count = self.fields(&fragment.node.selection_set);
                self.fragments.insert(name, Some(count));
                count
            }
        }
    }
}

/// The limits on a parsed document, checked for every operation in it.
fn check_shape(document: &ExecutableDocument) -> Result<(), String> {
    let mut shape = Shape {
        document,
        fragments: HashMap::new(),
        aliases: 0,
    };
    for (_, operation) in document.operations.iter() {
        let root = &operation.node.selection_set;
        // Root fields as the operation runs them, fragments expanded.
        let root_fields = root_field_count(&mut shape, root);
        if root_fields > MAX_GRAPHQL_ROOT_FIELDS {
            return Err(format!(
                "Query has too many root fields: at most {MAX_GRAPHQL_ROOT_FIELDS}."
            ));
        }
        if shape.fields(root) > MAX_GRAPHQL_FIELDS {
            return Err(format!(
                "Query has too many fields: at most {MAX_GRAPHQL_FIELDS} once fragments are expanded."
            ));
        }
    }
    // Fragments never spread still count their aliases.
    for (name, _) in document.fragments.iter() {
        shape.fragment(name);
    }
    if shape.aliases > MAX_GRAPHQL_ALIASES {
        return Err(format!(
            "Query has too many aliases: at most {MAX_GRAPHQL_ALIASES}."
        ));
    }
    Ok(())
}

/// The names of the fields the document selects anywhere (its operations and its fragments),
/// whatever type they are on: what a read for it needs to bring back.
pub fn field_names(document: &ExecutableDocument) -> HashSet<&str> {
    fn collect<'a>(set: &'a Positioned<SelectionSet>, names: &mut HashSet<&'a str>) {
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => {
                    names.insert(field.node.name.node.as_str());
                    collect(&field.node.selection_set, names);
                }
                Selection::InlineFragment(fragment) => collect(&fragment.node.selection_set, names),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    let mut names = HashSet::new();
    for (_, operation) in document.operations.iter() {
        collect(&operation.node.selection_set, &mut names);
    }
    for fragment in document.fragments.values() {
        collect(&fragment.node.selection_set, &mut names);
    }
    names
}

/// Whether some selection set of the document gives two fields one response key, counting the
/// fields its fragments add. async-graphql answers such fields one by one and merges the answers;
/// the plain path's JSON text cannot be merged, so such a document is answered without it
/// (`object::plain`). Fragment cycles (refused by validation later) are not followed twice.
pub fn repeats_a_response_key(document: &ExecutableDocument) -> bool {
    let mut walk = KeyWalk {
        document,
        budget: KEY_WALK_BUDGET,
    };
    !(document
        .operations
        .iter()
        .all(|(_, operation)| walk.all_unique(&operation.node.selection_set, None))
        && document
            .fragments
            .iter()
            .all(|(name, fragment)| walk.all_unique(&fragment.node.selection_set, Some(name))))
}

/// Response keys [`repeats_a_response_key`] looks at before it gives up and says "repeats" (so
/// that the resolvers answer): fragments are expanded once per selection set that spreads them,
/// and a chain of fragments that no operation spreads (validation refuses it later) must not
/// cost more than an honest document.
const KEY_WALK_BUDGET: usize = 4 * MAX_GRAPHQL_FIELDS;

struct KeyWalk<'a> {
    document: &'a ExecutableDocument,
    budget: usize,
}

impl<'a> KeyWalk<'a> {
    /// The response keys of one selection set, fragments expanded; `false` at the first repeat
    /// (or when the budget is spent).
    fn keys_unique(
        &mut self,
        set: &'a Positioned<SelectionSet>,
        keys: &mut HashSet<&'a str>,
        spreading: &mut Vec<&'a Name>,
    ) -> bool {
        set.node
            .items
            .iter()
            .all(|selection| match &selection.node {
                Selection::Field(field) => {
                    self.budget = self.budget.saturating_sub(1);
                    self.budget > 0 && keys.insert(field.node.response_key().node.as_str())
                }
                Selection::InlineFragment(fragment) => {
                    self.keys_unique(&fragment.node.selection_set, keys, spreading)
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    let Some(fragment) = self.document.fragments.get(name) else {
                        return true;
                    };
                    if spreading.contains(&name) {
                        return true;
                    }
                    spreading.push(name);
                    let unique = self.keys_unique(&fragment.node.selection_set, keys, spreading);
                    spreading.pop();
                    unique
                }
            })
    }

    /// Every selection set at or below `set`, the set of fragment `defining` when it is one
    /// (fragments' own sets are visited as definitions).
    fn all_unique(
        &mut self,
        set: &'a Positioned<SelectionSet>,
        defining: Option<&'a Name>,
    ) -> bool {
        let mut spreading = Vec::from_iter(defining);
        self.keys_unique(set, &mut HashSet::new(), &mut spreading)
            && set
                .node
                .items
                .iter()
                .all(|selection| match &selection.node {
                    Selection::Field(field) => self.all_unique(&field.node.selection_set, None),
                    Selection::InlineFragment(fragment) => {
                        self.all_unique(&fragment.node.selection_set, defining)
                    }
                    Selection::FragmentSpread(_) => true,
                })
    }
}

fn root_field_count<'a>(shape: &mut Shape<'a>, set: &'a Positioned<SelectionSet>) -> usize {
    let mut count = 0usize;
    for selection in &set.node.items {
        let more = match &selection.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(fragment) => {
                root_field_count(shape, &fragment.node.selection_set)
            }
            Selection::FragmentSpread(spread) => {
                match shape
                    .document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                {
                    // A root fragment has at most as many root fields as it has fields.
                    Some(_) => shape
                        .fragment(&spread.node.fragment_name.node)
                        .min(MAX_GRAPHQL_ROOT_FIELDS + 1),
                    None => 0,
                }
            }
        };
        count = count.saturating_add(more);
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str) -> Result<(), String> {
        check_text(query)?;
        check_shape(&async_graphql::parser::parse_query(query).expect("parses"))
    }

    #[test]
    fn honest_queries_pass() {
        assert!(check("{ captchaStages { results { id flowSet { slug } } } }").is_ok());
        assert!(check("query { a: flow(slug: \"x\") { id } b: flow(slug: \"y\") { id } }").is_ok());
    }

    #[test]
    fn fields_are_found_under_aliases_and_in_fragments() {
        let selects = |query: &str| {
            field_names(&async_graphql::parser::parse_query(query).expect("parses"))
                .contains("flowSet")
        };
        assert!(!selects("{ flows { results { slug stages { name } } } }"));
        assert!(!selects(r#"{ flow(slug: "flowSet") { slug } }"#));
        assert!(selects(
            "{ captchaStages { results { f: flowSet { slug } } } }"
        ));
        assert!(selects(
            "{ flows { results { stages { ... on CaptchaStage { flowSet { id } } } } } }"
        ));
        assert!(selects(
            "{ flows { results { stages { ...S } } } } fragment S on Stage { flowSet { id } }"
        ));
    }

    #[test]
    fn repeated_response_keys_are_found_in_every_selection_set() {
        let repeats = |query: &str| {
            repeats_a_response_key(&async_graphql::parser::parse_query(query).expect("parses"))
        };
        assert!(!repeats(
            "{ flows { results { slug name stages { name } stageBindings { order } } } }"
        ));
        assert!(!repeats(
            "{ a: flows { results { slug } } b: flows { results { slug } } }"
        ));
        assert!(repeats(
            "{ flows { results { slug } } flows { pagination { count } } }"
        ));
        assert!(repeats(
            "{ flows { results { slug stages { name name } } } }"
        ));
        assert!(repeats("{ flows { results { slug a: name a: title } } }"));
        assert!(repeats(
            "{ flows { results { slug ... on Flow { slug } } } }"
        ));
        assert!(repeats(
            "{ flows { results { ...F ...G } } } fragment F on Flow { slug } fragment G on Flow { slug }"
        ));
        assert!(repeats(
            "{ flows { results { slug } } } fragment F on Flow { stages { name } stages { id } }"
        ));
        // A chain of fragments no operation spreads, each with its own field: expanding it from
        // every definition would be quadratic; past the budget the answer is "repeats".
        let mut chain = String::from("{ flows { results { slug } } }");
        for i in 0..3_000 {
            chain.push_str(&format!(
                " fragment F{i} on Flow {{ f{i}: slug ...F{} }}",
                i + 1
            ));
        }
        assert!(repeats(&chain));
        // A fragment cycle (refused by validation) is not followed forever.
        assert!(!repeats(
            "{ flows { results { ...F } } } fragment F on Flow { slug ...G } fragment G on Flow { name ...F }"
        ));
    }

    #[test]
    fn aliases_root_fields_and_fragment_bombs_are_refused() {
        let aliases: String = (0..100).map(|i| format!("a{i}: __typename ")).collect();
        assert!(
            check(&format!("{{ x {{ {aliases} }} }}"))
                .unwrap_err()
                .contains("aliases")
        );
        let roots: String = (0..20).map(|_| "__typename ").collect();
        assert!(
            check(&format!("{{ {roots} }}"))
                .unwrap_err()
                .contains("root fields")
        );
        // Each fragment spreads the previous one twice: 2^30 fields once expanded.
        let mut bomb = String::from("query { x { ...F0 } } fragment F0 on Query { a b }");
        for i in 1..=30 {
            bomb.push_str(&format!(
                " fragment F{i} on Query {{ ...F{p} ...F{p} }}",
                p = i - 1
            ));
        }
        bomb = bomb.replacen("...F0", "...F30", 1);
        assert!(check(&bomb).unwrap_err().contains("too many fields"));
    }
}
