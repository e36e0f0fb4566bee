//! Words of search text: splitting, English stop words, the typo budget of a word, edit
//! distance, and the vocabulary of the catalog that spelling suggestions and query
//! completions come from.

use std::collections::HashMap;

/// English words too common to search by (tantivy's English list, which Lucene uses too).
pub const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// The longest query the gateway searches for, in characters; longer text is cut.
pub const MAX_QUERY_CHARS: usize = 200;
/// The most words of a query that are searched for.
pub const MAX_QUERY_WORDS: usize = 10;

/// Lowercase words of `text`: runs of letters and digits.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The words of a shopper's query worth searching for: at most [`MAX_QUERY_WORDS`], stop
/// words left out unless the query is nothing else.
pub fn query_words(query: &str) -> Vec<String> {
    let cut: String = query.chars().take(MAX_QUERY_CHARS).collect();
    let all = words(&cut);
    let meaningful: Vec<String> = all
        .iter()
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .cloned()
        .collect();
    let mut chosen = if meaningful.is_empty() {
        all
    } else {
        meaningful
    };
    chosen.truncate(MAX_QUERY_WORDS);
    chosen
}

/// How many typos a word may have and still match: none under 4 letters, one from 4, two
/// from 8.
pub fn typo_budget(word: &str) -> u8 {
    match word.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// The edit distance of `a` and `b` where swapping two neighbouring letters is one edit
/// (optimal string alignment), or `None` when it is more than `limit`.
pub fn edit_distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let width = b.len() + 1;
    let mut rows = vec![vec![0usize; width]; 3];
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        let (cur, prev, prev2) = (i % 3, (i + 2) % 3, (i + 1) % 3);
        rows[cur][0] = i;
        let mut row_min = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[prev][j] + 1)
                .min(rows[cur][j - 1] + 1)
                .min(rows[prev][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[prev2][j - 2] + 1);
            }
            rows[cur][j] = best;
            row_min = row_min.min(best);
        }
        if row_min > limit {
            return None;
        }
    }
    let distance = rows[a.len() % 3][b.len()];
    (distance <= limit).then_some(distance)
}

/// The catalog's words and how many products use each (titles, vendors, types, tags,
/// categories): the source of "did you mean" and of query completions. Words are interned,
/// so a product remembers its words as small numbers.
#[derive(Debug, Default, Clone)]
pub struct Vocabulary {
    ids: HashMap<String, u32>,
    words: Vec<String>,
    counts: Vec<u32>,
}

impl Vocabulary {
    /// Counts the words of one product (each once); returns their ids, for [`Vocabulary::remove`].
    pub fn add(&mut self, product_words: &[String]) -> Box<[u32]> {
        let mut ids: Vec<u32> = product_words
            .iter()
            .map(|word| match self.ids.get(word) {
                Some(id) => *id,
                None => {
                    let id = u32::try_from(self.words.len()).expect("fewer than 4 billion words");
                    self.ids.insert(word.clone(), id);
                    self.words.push(word.clone());
                    self.counts.push(0);
                    id
                }
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for id in &ids {
            self.counts[*id as usize] += 1;
        }
        ids.into_boxed_slice()
    }

    /// Forgets the words of one product, as [`Vocabulary::add`] returned them.
    pub fn remove(&mut self, ids: &[u32]) {
        for id in ids {
            if let Some(count) = self.counts.get_mut(*id as usize) {
                *count = count.saturating_sub(1);
            }
        }
    }

    fn count(&self, word: &str) -> u32 {
        self.ids.get(word).map_or(0, |id| self.counts[*id as usize])
    }

    fn used(&self) -> impl Iterator<Item = (&String, u32)> {
        self.words
            .iter()
            .zip(self.counts.iter().copied())
            .filter(|(_, count)| *count > 0)
    }

    /// Whether a product uses `word`.
    pub fn contains(&self, word: &str) -> bool {
        self.count(word) > 0
    }

    /// The catalog word closest to `word` within two edits (the most used among equals), when
    /// `word` itself is not one.
    pub fn correct(&self, word: &str) -> Option<&str> {
        if self.contains(word) || word.chars().count() < 3 {
            return None;
        }
        self.used()
            .filter_map(|(known, count)| {
                edit_distance(word, known, 2).map(|d| (d, std::cmp::Reverse(count), known))
            })
            .min()
            .map(|(_, _, known)| known.as_str())
    }

    /// Up to `limit` catalog words starting with `prefix`, the most used first.
    pub fn complete(&self, prefix: &str, limit: usize) -> Vec<&str> {
        let mut found: Vec<(&String, u32)> =
            self.used().filter(|(w, _)| w.starts_with(prefix)).collect();
        found.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        found
            .into_iter()
            .take(limit)
            .map(|(w, _)| w.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_count_as_one_edit_and_the_limit_cuts_early() {
        assert_eq!(edit_distance("shrit", "shirt", 2), Some(1));
        assert_eq!(edit_distance("jaket", "jacket", 2), Some(1));
        assert_eq!(edit_distance("sweater", "sweater", 0), Some(0));
        assert_eq!(edit_distance("boot", "jacket", 2), None);
        assert_eq!(edit_distance("", "ab", 2), Some(2));
    }

    #[test]
    fn typo_budgets_grow_with_word_length() {
        assert_eq!(typo_budget("hat"), 0);
        assert_eq!(typo_budget("shrit"), 1);
        assert_eq!(typo_budget("sweatshirt"), 2);
    }

    #[test]
    fn queries_lose_stop_words_unless_nothing_else_is_left() {
        assert_eq!(
            query_words("The Wool Coat, for men!"),
            ["wool", "coat", "men"]
        );
        assert_eq!(query_words("the"), ["the"]);
        assert!(query_words("  ").is_empty());
    }

    #[test]
    fn the_vocabulary_corrects_and_completes_by_use() {
        let mut vocabulary = Vocabulary::default();
        vocabulary.add(&words("Wool Jacket"));
        vocabulary.add(&words("Linen Jacket jacket"));
        let plush = vocabulary.add(&words("Jackal Plush"));
        assert_eq!(vocabulary.correct("jaket"), Some("jacket"));
        assert_eq!(
            vocabulary.correct("jacket"),
            None,
            "a known word needs no correction"
        );
        assert_eq!(vocabulary.complete("jac", 5), ["jacket", "jackal"]);
        vocabulary.remove(&plush);
        assert_eq!(vocabulary.complete("jac", 5), ["jacket"]);
    }
}
