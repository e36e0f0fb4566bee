//! The embedded recommender's model, learnt incrementally from interactions: popularity with
//! exponential time decay, item-to-item co-occurrence (viewed in one session, and carted or
//! bought together), and each shopper's recent products and affinity to categories and
//! vendors. Every table is bounded: neighbours per product, shoppers remembered, recent
//! products per shopper.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};

use super::events::{EventKind, Interaction};

/// The most neighbours kept per product and signal (the weakest go first).
const MAX_NEIGHBOURS: usize = 100;
/// The most recent products kept per shopper.
const RECENT: usize = 20;
/// How many of a shopper's recent products a new one is paired with.
const PAIR_WITH: usize = 10;

/// A score that halves every half-life.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Decayed {
    score: f64,
    at: DateTime<Utc>,
}

impl Decayed {
    fn now(&self, at: DateTime<Utc>, half_life_secs: f64) -> f64 {
        let age = (at - self.at).num_milliseconds().max(0) as f64 / 1000.0;
        self.score * 0.5f64.powf(age / half_life_secs)
    }

    fn add(&mut self, weight: f64, at: DateTime<Utc>, half_life_secs: f64) {
        let at = at.max(self.at);
        self.score = self.now(at, half_life_secs) + weight;
        self.at = at;
    }
}

/// What the model remembers of one shopper.
#[derive(Debug, Default, Clone)]
struct Shopper {
    recent: VecDeque<String>,
    carted: VecDeque<String>,
    bought: HashSet<String>,
    affinity: HashMap<String, f64>,
    last_seen: Option<DateTime<Utc>>,
}

/// The most shoppers remembered (the longest unseen are forgotten first).
pub const MAX_SHOPPERS: usize = 100_000;

/// The embedded recommender's state.
#[derive(Debug)]
pub struct Model {
    half_life_secs: f64,
    popularity: HashMap<String, Decayed>,
    together: HashMap<String, HashMap<String, f64>>,
    bought_with: HashMap<String, HashMap<String, f64>>,
    shoppers: HashMap<String, Shopper>,
    learnt: u64,
}

fn weight(kind: EventKind) -> f64 {
    match kind {
        EventKind::View => 1.0,
        EventKind::AddToCart => 3.0,
        EventKind::Purchase => 5.0,
        EventKind::Search => 0.0,
    }
}

fn bump(table: &mut HashMap<String, HashMap<String, f64>>, a: &str, b: &str, by: f64) {
    if a == b {
        return;
    }
    let neighbours = table.entry(a.to_owned()).or_default();
    *neighbours.entry(b.to_owned()).or_default() += by;
    if neighbours.len() > MAX_NEIGHBOURS + MAX_NEIGHBOURS / 2 {
        let mut ranked: Vec<(String, f64)> = neighbours.drain().collect();
        ranked.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        ranked.truncate(MAX_NEIGHBOURS);
        neighbours.extend(ranked);
    }
}

fn push_recent(list: &mut VecDeque<String>, product: &str) {
    list.retain(|p| p != product);
    list.push_front(product.to_owned());
    list.truncate(RECENT);
}

fn top(scores: HashMap<String, f64>, exclude: &HashSet<&str>, limit: usize) -> Vec<String> {
    let mut ranked: Vec<(String, f64)> = scores
        .into_iter()
        .filter(|(p, s)| *s > 0.0 && !exclude.contains(p.as_str()))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.into_iter().take(limit).map(|(p, _)| p).collect()
}

impl Model {
    /// An empty model whose popularity halves every `half_life_secs`.
    pub fn new(half_life_secs: f64) -> Self {
        Self {
            half_life_secs: half_life_secs.max(1.0),
            popularity: HashMap::new(),
            together: HashMap::new(),
            bought_with: HashMap::new(),
            shoppers: HashMap::new(),
            learnt: 0,
        }
    }

    /// How many interactions it has learnt from.
    pub fn learnt(&self) -> u64 {
        self.learnt
    }

    fn shopper(&mut self, subject: &str, at: DateTime<Utc>) -> &mut Shopper {
        if !self.shoppers.contains_key(subject) && self.shoppers.len() >= MAX_SHOPPERS {
            // Forget the shopper seen longest ago.
            if let Some(oldest) = self
                .shoppers
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone())
            {
                self.shoppers.remove(&oldest);
            }
        }
        let shopper = self.shoppers.entry(subject.to_owned()).or_default();
        shopper.last_seen = Some(at.max(shopper.last_seen.unwrap_or(at)));
        shopper
    }

    /// Learns from one interaction; returns the products whose recommendations changed.
    pub fn learn(&mut self, event: &Interaction) -> Vec<String> {
        self.learnt += 1;
        let Some(product) = event.product_id.as_deref() else {
            return vec![];
        };
        let w = weight(event.kind);
        let half_life = self.half_life_secs;
        self.popularity
            .entry(product.to_owned())
            .or_insert(Decayed {
                score: 0.0,
                at: event.at,
            })
            .add(w, event.at, half_life);
        let mut touched = vec![product.to_owned()];
        let Some(subject) = event.subject.as_deref() else {
            return touched;
        };
        let shopper = self.shopper(subject, event.at);
        for key in &event.traits {
            *shopper.affinity.entry(key.clone()).or_default() += w;
        }
        let recent: Vec<String> = shopper.recent.iter().take(PAIR_WITH).cloned().collect();
        let carted: Vec<String> = shopper.carted.iter().take(PAIR_WITH).cloned().collect();
        push_recent(&mut shopper.recent, product);
        match event.kind {
            EventKind::AddToCart => push_recent(&mut shopper.carted, product),
            EventKind::Purchase => {
                shopper.bought.insert(product.to_owned());
                push_recent(&mut shopper.carted, product);
            }
            _ => {}
        }
        for other in &recent {
            bump(&mut self.together, product, other, w);
            bump(&mut self.together, other, product, w);
            touched.push(other.clone());
        }
        if matches!(event.kind, EventKind::AddToCart | EventKind::Purchase) {
            for other in &carted {
                bump(&mut self.bought_with, product, other, w);
                bump(&mut self.bought_with, other, product, w);
                touched.push(other.clone());
            }
        }
        touched
    }

    /// The most popular products now, at most `limit`, leaving out `exclude`.
    pub fn trending(
        &self,
        at: DateTime<Utc>,
        limit: usize,
        exclude: &HashSet<&str>,
    ) -> Vec<String> {
        top(
            self.popularity
                .iter()
                .map(|(p, d)| (p.clone(), d.now(at, self.half_life_secs)))
                .collect(),
            exclude,
            limit,
        )
    }

    /// Products seen with `product` in one session (strongest first).
    pub fn related(&self, product: &str, limit: usize) -> Vec<String> {
        let exclude = HashSet::from([product]);
        top(
            self.together.get(product).cloned().unwrap_or_default(),
            &exclude,
            limit,
        )
    }

    /// Products carted or bought with `product` (strongest first).
    pub fn bought_together(&self, product: &str, limit: usize) -> Vec<String> {
        let exclude = HashSet::from([product]);
        top(
            self.bought_with.get(product).cloned().unwrap_or_default(),
            &exclude,
            limit,
        )
    }

    /// Products for a shopper: neighbours of their recent products (the most recent count
    /// most), leaving out what they bought; empty for a shopper with no history.
    pub fn for_shopper(&self, subject: &str, limit: usize) -> Vec<String> {
        let Some(shopper) = self.shoppers.get(subject) else {
            return vec![];
        };
        let mut scores: HashMap<String, f64> = HashMap::new();
        for (i, product) in shopper.recent.iter().enumerate() {
            let recency = 1.0 / (1.0 + i as f64);
            for table in [&self.together, &self.bought_with] {
                for (other, s) in table.get(product).into_iter().flatten() {
                    *scores.entry(other.clone()).or_default() += s * recency;
                }
            }
        }
        let exclude: HashSet<&str> = shopper.bought.iter().map(String::as_str).collect();
        top(scores, &exclude, limit)
    }

    /// A shopper's affinity to a trait (`category:<id>`, `vendor:<name>`), 0 when unknown.
    pub fn affinity(&self, subject: &str, traits: &[String]) -> f64 {
        self.shoppers.get(subject).map_or(0.0, |s| {
            traits
                .iter()
                .map(|t| s.affinity.get(t).copied().unwrap_or(0.0))
                .sum()
        })
    }

    /// Whether the model knows anything of the shopper.
    pub fn knows(&self, subject: &str) -> bool {
        self.shoppers.contains_key(subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn event(kind: EventKind, product: &str, subject: &str, at: DateTime<Utc>) -> Interaction {
        Interaction {
            kind,
            product_id: Some(product.into()),
            query: None,
            subject: Some(subject.into()),
            traits: vec![format!("category:{}", &product[..1])],
            at,
        }
    }

    #[test]
    fn sessions_pair_products_and_purchases_pair_the_basket() {
        let now = Utc::now();
        let mut model = Model::new(3600.0);
        for (p, s) in [("a1", "s1"), ("b1", "s1"), ("a1", "s2"), ("c1", "s2")] {
            model.learn(&event(EventKind::View, p, s, now));
        }
        assert_eq!(model.related("a1", 5), ["b1", "c1"]);
        model.learn(&event(EventKind::Purchase, "d1", "s3", now));
        model.learn(&event(EventKind::Purchase, "a1", "s3", now));
        assert_eq!(model.bought_together("a1", 5), ["d1"]);
        assert_eq!(
            model.for_shopper("s3", 5),
            ["b1", "c1"],
            "what they bought is left out"
        );
        assert!(model.affinity("s3", &["category:a".into()]) > 0.0);
        assert!(model.for_shopper("nobody", 5).is_empty());
    }

    #[test]
    fn popularity_decays_with_time() {
        let now = Utc::now();
        let mut model = Model::new(3600.0);
        for _ in 0..4 {
            model.learn(&event(
                EventKind::View,
                "old",
                "s",
                now - Duration::hours(5),
            ));
        }
        model.learn(&event(EventKind::View, "new", "t", now));
        assert_eq!(
            model.trending(now, 2, &HashSet::new()),
            ["new", "old"],
            "4 views five half-lives ago weigh less than one view now"
        );
    }

    #[test]
    fn neighbour_lists_stay_bounded() {
        let now = Utc::now();
        let mut model = Model::new(3600.0);
        for i in 0..400 {
            model.learn(&event(EventKind::View, "a0", &format!("s{i}"), now));
            model.learn(&event(
                EventKind::View,
                &format!("b{i}"),
                &format!("s{i}"),
                now,
            ));
        }
        assert!(model.together["a0"].len() <= MAX_NEIGHBOURS + MAX_NEIGHBOURS / 2);
    }
}
