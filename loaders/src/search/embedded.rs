//! The embedded search engine: a tantivy index (in the data dir, or in memory) for matching
//! and relevance, and beside it a compact row per product for filters, facet counts and
//! sorting, plus the catalog's vocabulary for suggestions.
//!
//! Matching: every query word must match (title, then vendor/type/tags/categories/options,
//! then description, stemmed, English stop words left out), within its typo budget (one
//! edit from 4 letters, two from 8), and the last word also as a prefix.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer,
};
use tantivy::{
    DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentOrdinal, SegmentReader,
    TantivyDocument, Term,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::document::SearchDocument;
use super::engine::{Rebuild, SearchEngine, SearchError};
use super::facets::{FacetCounter, FilterGroups, Row, Symbols};
use super::ranking::{Ranked, page};
use super::request::{CategoryHit, Predictions, SearchRequest, SearchResults, SearchSort};
use super::text::{Vocabulary, query_words, typo_budget};
use crate::sync::{read, write};

/// The version of the index layout; an index of another version is rebuilt.
const FORMAT: u32 = 1;
/// Memory the index writer may buffer before it writes a segment.
const WRITER_MEMORY: usize = 32 * 1024 * 1024;

fn failed(e: impl std::fmt::Display) -> SearchError {
    SearchError::Unavailable(e.to_string())
}

/// What a commit records besides the documents.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Payload {
    format: u32,
    revision: Option<u64>,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    ord: Field,
    title: Field,
    meta: Field,
    description: Field,
    words: Field,
    doc: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = |tokenizer: &str, record: IndexRecordOption| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(record),
        )
    };
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        ord: builder.add_u64_field("ord", FAST | INDEXED),
        title: builder.add_text_field("title", text("en", IndexRecordOption::WithFreqs)),
        meta: builder.add_text_field("meta", text("en", IndexRecordOption::WithFreqs)),
        description: builder
            .add_text_field("description", text("en", IndexRecordOption::WithFreqs)),
        words: builder.add_text_field("words", text("raw", IndexRecordOption::Basic)),
        doc: builder.add_text_field("doc", STORED),
    };
    (builder.build(), fields)
}

fn english() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(StopWordFilter::new(Language::English).expect("tantivy ships English stop words"))
        .filter(Stemmer::new(Language::English))
        .build()
}

fn raw() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The tokens `analyzer` makes of `text`.
fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

struct Entry {
    id: Arc<str>,
    row: Row,
    words: Box<[u32]>,
    categories: Box<[String]>,
}

/// The in-memory side of the index.
#[derive(Default)]
struct State {
    entries: Vec<Option<Entry>>,
    ords: HashMap<Arc<str>, u64>,
    live: u64,
    symbols: Symbols,
    vocabulary: Vocabulary,
    categories: HashMap<String, (CategoryHit, u64)>,
}

impl State {
    /// A fresh state that gives known products the ords they had.
    fn carrying_ords(old: &State) -> Self {
        Self {
            ords: old.ords.clone(),
            ..Self::default()
        }
    }

    fn ord_of(&mut self, id: &str) -> u64 {
        if let Some(ord) = self.ords.get(id) {
            return *ord;
        }
        let ord = self.ords.len() as u64;
        self.ords.insert(Arc::from(id), ord);
        ord
    }

    fn put(&mut self, ord: u64, doc: &SearchDocument) {
        self.remove_ord(ord);
        let slot = ord as usize;
        if self.entries.len() <= slot {
            self.entries.resize_with(slot + 1, || None);
        }
        for category in &doc.categories {
            self.categories
                .entry(category.handle.clone())
                .or_insert_with(|| (category.clone(), 0))
                .1 += 1;
        }
        let id: Arc<str> = Arc::clone(
            self.ords
                .get_key_value(doc.id.as_str())
                .map(|(k, _)| k)
                .expect("the ord was assigned"),
        );
        self.entries[slot] = Some(Entry {
            id,
            row: self.symbols.row(doc),
            words: self.vocabulary.add(&doc.name_words()),
            categories: doc.categories.iter().map(|c| c.handle.clone()).collect(),
        });
        self.live += 1;
    }

    fn remove_ord(&mut self, ord: u64) {
        let Some(entry) = self.entries.get_mut(ord as usize).and_then(Option::take) else {
            return;
        };
        self.vocabulary.remove(&entry.words);
        for handle in entry.categories.iter() {
            if let Some((_, count)) = self.categories.get_mut(handle) {
                *count -= 1;
                if *count == 0 {
                    self.categories.remove(handle);
                }
            }
        }
        self.live -= 1;
    }

    fn entry(&self, ord: u64) -> Option<&Entry> {
        self.entries.get(ord as usize).and_then(Option::as_ref)
    }
}

struct Inner {
    reader: IndexReader,
    writer: Arc<Mutex<IndexWriter>>,
    fields: Fields,
    state: RwLock<State>,
    revision: std::sync::Mutex<Option<u64>>,
    generation: AtomicU64,
    // Searches are CPU work: at most one per core runs at a time (more would only queue on
    // the cores, and each extra blocking thread keeps its own allocator heap).
    running: tokio::sync::Semaphore,
}

/// The embedded search engine.
#[derive(Clone)]
pub struct EmbeddedSearch {
    inner: Arc<Inner>,
}

impl EmbeddedSearch {
    /// Opens the index in `dir` (created when missing; a damaged or older index is started
    /// afresh), or an index in memory when `dir` is none.
    pub fn open(dir: Option<PathBuf>) -> Result<Self, SearchError> {
        let (schema, fields) = schema();
        let index = match &dir {
            None => Index::create_in_ram(schema.clone()),
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(failed)?;
                match Self::open_dir(dir, &schema) {
                    Ok(index) => index,
                    Err(e) => {
                        tracing::warn!(error = %e, dir = %dir.display(), "the search index cannot be used; starting it afresh");
                        std::fs::remove_dir_all(dir).map_err(failed)?;
                        std::fs::create_dir_all(dir).map_err(failed)?;
                        Index::create_in_dir(dir, schema.clone()).map_err(failed)?
                    }
                }
            }
        };
        index.tokenizers().register("en", english());
        index.tokenizers().register("raw", raw());
        let writer: IndexWriter = index
            .writer_with_num_threads(1, WRITER_MEMORY)
            .map_err(|e| {
                SearchError::Unavailable(format!(
                    "cannot write the search index (is another gateway using this data dir?): {e}"
                ))
            })?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(failed)?;
        let payload: Option<Payload> = index
            .load_metas()
            .map_err(failed)?
            .payload
            .and_then(|p| serde_json::from_str(&p).ok());
        let inner = Inner {
            reader,
            writer: Arc::new(Mutex::new(writer)),
            fields,
            state: RwLock::new(State::default()),
            revision: std::sync::Mutex::new(payload.and_then(|p| p.revision)),
            generation: AtomicU64::new(0),
            running: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, usize::from),
            ),
        };
        inner.load_state()?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    fn open_dir(dir: &std::path::Path, schema: &Schema) -> Result<Index, String> {
        let directory = tantivy::directory::MmapDirectory::open(dir).map_err(|e| e.to_string())?;
        let index = Index::open_or_create(directory, schema.clone()).map_err(|e| e.to_string())?;
        let metas = index.load_metas().map_err(|e| e.to_string())?;
        let format = metas
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<Payload>(p).ok())
            .map(|p| p.format);
        // A brand-new index has no payload yet; any other must be of this format.
        if !metas.segments.is_empty() && format != Some(FORMAT) {
            return Err(format!("index format {format:?}, expected {FORMAT}"));
        }
        Ok(index)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, SearchError> + Send + 'static,
    ) -> Result<T, SearchError> {
        let _turn = self.inner.running.acquire().await.map_err(failed)?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(failed)?
    }
}

impl Inner {
    /// Reads the stored documents back into the in-memory state (at open).
    fn load_state(&self) -> Result<(), SearchError> {
        let searcher = self.reader.searcher();
        let mut state = State::default();
        for segment in searcher.segment_readers() {
            let store = segment.get_store_reader(16).map_err(failed)?;
            for doc in store.iter::<TantivyDocument>(segment.alive_bitset()) {
                let doc = doc.map_err(failed)?;
                let Some(json) = doc.get_first(self.fields.doc).and_then(|v| v.as_str()) else {
                    continue;
                };
                let document: SearchDocument = serde_json::from_str(json).map_err(failed)?;
                let ord = state.ord_of(&document.id);
                state.put(ord, &document);
            }
        }
        *write(&self.state) = state;
        Ok(())
    }

    fn tantivy_doc(&self, ord: u64, doc: &SearchDocument) -> TantivyDocument {
        let f = self.fields;
        let mut out = TantivyDocument::new();
        out.add_text(f.id, &doc.id);
        out.add_u64(f.ord, ord);
        out.add_text(f.title, &doc.title);
        let meta = doc.meta_text();
        out.add_text(f.meta, &meta);
        out.add_text(f.description, &doc.description);
        out.add_text(f.words, format!("{} {meta}", doc.title));
        out.add_text(
            f.doc,
            serde_json::to_string(doc).expect("search documents serialise"),
        );
        out
    }

    fn commit(&self, writer: &mut IndexWriter, revision: Option<u64>) -> Result<(), SearchError> {
        let payload = serde_json::to_string(&Payload {
            format: FORMAT,
            revision,
        })
        .expect("payloads serialise");
        let mut prepared = writer.prepare_commit().map_err(failed)?;
        prepared.set_payload(&payload);
        prepared.commit().map_err(failed)?;
        self.reader.reload().map_err(failed)?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// The clauses one query word adds: exact (stemmed) in each text field, fuzzy within its
    /// typo budget, and a prefix when it is the word being typed.
    fn word_query(&self, word: &str, stemmed: Option<&str>, typing: bool) -> Box<dyn Query> {
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(stem) = stemmed {
            for (field, boost) in [(f.title, 4.0), (f.meta, 2.0), (f.description, 1.0)] {
                let term = TermQuery::new(
                    Term::from_field_text(field, stem),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(term), boost)),
                ));
            }
        }
        let raw = Term::from_field_text(f.words, word);
        let budget = typo_budget(word);
        if budget > 0 {
            let fuzzy = FuzzyTermQuery::new(raw.clone(), budget, true);
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(fuzzy), 1.0)),
            ));
        }
        if typing {
            let prefix = FuzzyTermQuery::new_prefix(raw, 0, true);
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(prefix), 1.5)),
            ));
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// Every product matching `query` with its score (all products, scored 0, for no words).
    fn matches(&self, query: &str) -> Result<Vec<(u64, Score)>, SearchError> {
        let words = query_words(query);
        let searcher = self.reader.searcher();
        let typing = !query.ends_with(char::is_whitespace);
        let built: Box<dyn Query> = if words.is_empty() {
            Box::new(AllQuery)
        } else {
            let mut english = english();
            let last = words.len() - 1;
            Box::new(BooleanQuery::new(
                words
                    .iter()
                    .enumerate()
                    .map(|(i, word)| {
                        let stems = tokens(&mut english, word);
                        // A stop word kept because the query is nothing else matches as it is.
                        let stem = stems.first().map_or(word.as_str(), String::as_str);
                        (
                            Occur::Must,
                            self.word_query(word, Some(stem), typing && i == last),
                        )
                    })
                    .collect(),
            ))
        };
        let scored = !words.is_empty();
        let mut found = searcher
            .search(&built, &AllMatches { scored })
            .map_err(failed)?;
        if !scored {
            found.iter_mut().for_each(|(_, s)| *s = 0.0);
        }
        Ok(found)
    }

    fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        let matched = self.matches(&request.query)?;
        let state = read(&self.state);
        let groups = FilterGroups::new(&state.symbols, &request.filters);
        let mut counter = request
            .facets
            .then(|| FacetCounter::new(&state.symbols, &groups));
        let mut ranked: Vec<Ranked<'_>> = Vec::with_capacity(matched.len().min(10_000));
        for (ord, score) in matched {
            let Some(entry) = state.entry(ord) else {
                continue;
            };
            let passes = match &mut counter {
                Some(counter) => counter.count(&entry.row),
                None => groups.passes(&entry.row),
            };
            if passes {
                let value = match request.sort {
                    SearchSort::Relevance => f64::from(score),
                    SearchSort::Price => entry.row.min_price as f64,
                    SearchSort::CreatedAt => entry.row.created_at as f64,
                    SearchSort::BestSelling => entry.row.sales as f64,
                };
                ranked.push(Ranked {
                    id: &entry.id,
                    value,
                });
            }
        }
        let total = ranked.len() as u64;
        let (hits, has_more) = page(
            ranked,
            request.sort,
            request.reverse,
            request.cursor.as_ref(),
            request.backward,
            request.limit,
        );
        let suggestions = if total == 0 {
            suggest(&state.vocabulary, &request.query)
                .into_iter()
                .collect()
        } else {
            vec![]
        };
        Ok(SearchResults {
            hits,
            has_more,
            total,
            facets: counter.map(FacetCounter::facets).unwrap_or_default(),
            suggestions,
        })
    }

    fn predict(&self, query: &str, limit: usize) -> Result<Predictions, SearchError> {
        let words = query_words(query);
        let Some(last) = words.last() else {
            return Ok(Predictions::default());
        };
        let results = self.search(&SearchRequest::predictive(query, limit))?;
        let state = read(&self.state);
        let head = words[..words.len() - 1].join(" ");
        let joined = |word: &str| {
            if head.is_empty() {
                word.to_owned()
            } else {
                format!("{head} {word}")
            }
        };
        let mut queries: Vec<String> = Vec::new();
        let typing = !query.ends_with(char::is_whitespace);
        if typing {
            for word in state.vocabulary.complete(last, limit) {
                queries.push(joined(word));
            }
        }
        if let Some(corrected) = suggest(&state.vocabulary, query) {
            queries.insert(0, corrected);
        }
        if queries.is_empty() && results.total > 0 {
            queries.push(words.join(" "));
        }
        queries.dedup();
        queries.truncate(limit);
        let mut categories: Vec<&(CategoryHit, u64)> = state
            .categories
            .values()
            .filter(|(category, _)| {
                let title = super::text::words(&category.title);
                title.iter().any(|w| w.starts_with(last.as_str()))
                    || words.iter().any(|q| title.contains(q))
            })
            .collect();
        categories.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.title.cmp(&b.0.title)));
        Ok(Predictions {
            products: results.hits.into_iter().map(|h| h.id).collect(),
            categories: categories
                .into_iter()
                .take(limit)
                .map(|(c, _)| c.clone())
                .collect(),
            queries,
        })
    }
}

/// The query with each unknown word replaced by the closest catalog word, when that changes
/// anything.
fn suggest(vocabulary: &Vocabulary, query: &str) -> Option<String> {
    let words = query_words(query);
    let mut changed = false;
    let corrected: Vec<String> = words
        .iter()
        .map(|w| match vocabulary.correct(w) {
            Some(better) => {
                changed = true;
                better.to_owned()
            }
            None => w.clone(),
        })
        .collect();
    changed.then(|| corrected.join(" "))
}

/// Collects every match: its ord and (when scoring) its score.
struct AllMatches {
    scored: bool,
}

struct SegmentMatches {
    ords: Column<u64>,
    found: Vec<(u64, Score)>,
}

impl Collector for AllMatches {
    type Fruit = Vec<(u64, Score)>;
    type Child = SegmentMatches;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentMatches> {
        Ok(SegmentMatches {
            ords: reader.fast_fields().u64("ord")?,
            found: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.scored
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(u64, Score)>>) -> tantivy::Result<Self::Fruit> {
        Ok(fruits.concat())
    }
}

impl SegmentCollector for SegmentMatches {
    type Fruit = Vec<(u64, Score)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        if let Some(ord) = self.ords.first(doc) {
            self.found.push((ord, score));
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.found
    }
}

struct EmbeddedRebuild {
    inner: Arc<Inner>,
    // Both are taken while a step runs on a blocking thread, and by `finish`.
    writer: Option<OwnedMutexGuard<IndexWriter>>,
    state: Option<State>,
}

impl Drop for EmbeddedRebuild {
    fn drop(&mut self) {
        // An abandoned rebuild must not leave its deletions for the next commit.
        if let Some(mut writer) = self.writer.take()
            && let Err(e) = writer.rollback()
        {
            tracing::error!(error = %e, "cannot roll back an abandoned search index rebuild");
        }
    }
}

type Parts = (OwnedMutexGuard<IndexWriter>, State);

impl EmbeddedRebuild {
    async fn step(
        &mut self,
        work: impl FnOnce(&Inner, &mut Parts) -> Result<(), SearchError> + Send + 'static,
    ) -> Result<(), SearchError> {
        let (Some(writer), Some(state)) = (self.writer.take(), self.state.take()) else {
            return Err(SearchError::Unavailable("the rebuild was abandoned".into()));
        };
        let inner = Arc::clone(&self.inner);
        let (result, parts) = tokio::task::spawn_blocking(move || {
            let mut parts = (writer, state);
            (work(&inner, &mut parts), parts)
        })
        .await
        .map_err(failed)?;
        self.writer = Some(parts.0);
        self.state = Some(parts.1);
        result
    }
}

#[async_trait]
impl Rebuild for EmbeddedRebuild {
    async fn add(&mut self, documents: Vec<SearchDocument>) -> Result<(), SearchError> {
        self.step(move |inner, (writer, state)| {
            for doc in &documents {
                let ord = state.ord_of(&doc.id);
                writer
                    .add_document(inner.tantivy_doc(ord, doc))
                    .map_err(failed)?;
                state.put(ord, doc);
            }
            Ok(())
        })
        .await
    }

    async fn finish(mut self: Box<Self>, revision: u64) -> Result<(), SearchError> {
        self.step(move |inner, (writer, state)| {
            inner.commit(writer, Some(revision))?;
            *write(&inner.state) = std::mem::take(state);
            *crate::sync::lock(&inner.revision) = Some(revision);
            Ok(())
        })
        .await?;
        // Committed: nothing to roll back.
        self.writer = None;
        Ok(())
    }
}

#[async_trait]
impl SearchEngine for EmbeddedSearch {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        let request = request.clone();
        self.blocking(move |inner| inner.search(&request)).await
    }

    async fn predict(&self, query: &str, limit: usize) -> Result<Predictions, SearchError> {
        let query = query.to_owned();
        self.blocking(move |inner| inner.predict(&query, limit))
            .await
    }

    async fn apply(
        &self,
        upserts: Vec<SearchDocument>,
        removals: Vec<String>,
    ) -> Result<(), SearchError> {
        if upserts.is_empty() && removals.is_empty() {
            return Ok(());
        }
        let mut writer = Arc::clone(&self.inner.writer).lock_owned().await;
        self.blocking(move |inner| {
            let ords: Vec<u64> = {
                let mut state = write(&inner.state);
                upserts.iter().map(|d| state.ord_of(&d.id)).collect()
            };
            for id in upserts.iter().map(|d| &d.id).chain(&removals) {
                writer.delete_term(Term::from_field_text(inner.fields.id, id));
            }
            for (doc, ord) in upserts.iter().zip(&ords) {
                writer
                    .add_document(inner.tantivy_doc(*ord, doc))
                    .map_err(failed)?;
            }
            let revision = *crate::sync::lock(&inner.revision);
            inner.commit(&mut writer, revision)?;
            let mut state = write(&inner.state);
            for (doc, ord) in upserts.iter().zip(ords) {
                state.put(ord, doc);
            }
            for id in &removals {
                if let Some(ord) = state.ords.get(id.as_str()).copied() {
                    state.remove_ord(ord);
                }
            }
            Ok(())
        })
        .await
    }

    async fn rebuild(&self) -> Result<Box<dyn Rebuild>, SearchError> {
        let writer = Arc::clone(&self.inner.writer).lock_owned().await;
        writer.delete_all_documents().map_err(failed)?;
        let state = State::carrying_ords(&read(&self.inner.state));
        Ok(Box::new(EmbeddedRebuild {
            inner: Arc::clone(&self.inner),
            writer: Some(writer),
            state: Some(state),
        }))
    }

    async fn revision(&self) -> Result<Option<u64>, SearchError> {
        Ok(*crate::sync::lock(&self.inner.revision))
    }

    async fn len(&self) -> Result<u64, SearchError> {
        Ok(read(&self.inner.state).live)
    }

    fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, title: &str) -> SearchDocument {
        SearchDocument {
            id: id.into(),
            handle: id.into(),
            title: title.into(),
            description: String::new(),
            vendor: "Acme".into(),
            product_type: "Coat".into(),
            tags: vec![],
            categories: vec![],
            options: vec![],
            min_price: 1000,
            max_price: 1000,
            currency: "USD".into(),
            available: true,
            created_at: 0,
            sales: 0,
        }
    }

    async fn ids(engine: &EmbeddedSearch, query: &str) -> Vec<String> {
        let mut found: Vec<String> = engine
            .search(&SearchRequest {
                query: query.into(),
                filters: vec![],
                sort: SearchSort::Relevance,
                reverse: false,
                limit: 50,
                cursor: None,
                backward: false,
                facets: false,
            })
            .await
            .expect("search")
            .hits
            .into_iter()
            .map(|h| h.id)
            .collect();
        found.sort();
        found
    }

    #[tokio::test]
    async fn a_rebuild_is_invisible_until_finished_and_an_abandoned_one_changes_nothing() {
        let engine = EmbeddedSearch::open(None).expect("in memory");
        engine
            .apply(vec![doc("a", "Wool Coat"), doc("b", "Linen Coat")], vec![])
            .await
            .expect("apply");
        let mut rebuild = engine.rebuild().await.expect("rebuild");
        rebuild.add(vec![doc("c", "Rain Coat")]).await.expect("add");
        let other = engine.clone();
        // A write while the rebuild holds the writer waits for it, never mixing in.
        let waiting =
            tokio::spawn(async move { other.apply(vec![doc("d", "Down Coat")], vec![]).await });
        assert_eq!(
            ids(&engine, "coat").await,
            ["a", "b"],
            "searches see the old index"
        );
        rebuild.finish(7).await.expect("finish");
        waiting
            .await
            .expect("task")
            .expect("apply after the rebuild");
        assert_eq!(ids(&engine, "coat").await, ["c", "d"]);
        assert_eq!(engine.revision().await.expect("revision"), Some(7));

        let mut abandoned = engine.rebuild().await.expect("rebuild");
        abandoned
            .add(vec![doc("e", "Pea Coat")])
            .await
            .expect("add");
        drop(abandoned);
        engine
            .apply(vec![doc("f", "Trench Coat")], vec![])
            .await
            .expect("apply");
        assert_eq!(
            ids(&engine, "coat").await,
            ["c", "d", "f"],
            "the abandoned rebuild's deletions and documents were rolled back"
        );
    }

    #[tokio::test]
    async fn an_index_on_disk_reopens_with_its_documents_and_revision() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("index");
        {
            let engine = EmbeddedSearch::open(Some(path.clone())).expect("open");
            let mut rebuild = engine.rebuild().await.expect("rebuild");
            rebuild
                .add(vec![doc("a", "Wool Coat"), doc("b", "Silk Scarf")])
                .await
                .expect("add");
            rebuild.finish(3).await.expect("finish");
        }
        let engine = EmbeddedSearch::open(Some(path)).expect("reopen");
        assert_eq!(engine.revision().await.expect("revision"), Some(3));
        assert_eq!(engine.len().await.expect("len"), 2);
        assert_eq!(
            ids(&engine, "scraf").await,
            ["b"],
            "typo-tolerant after reopening"
        );
    }
}
