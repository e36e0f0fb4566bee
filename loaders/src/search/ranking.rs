//! Orders results and cuts a page out of them by cursor: a cursor is the last result's sort
//! value and product id, so a page continues exactly after it even when results before it
//! came or went, and no result shows twice or is skipped.

use std::cmp::Ordering;

use super::request::{Hit, Position, SearchSort};

/// A result before paging: product id and its sort value.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked<'a> {
    /// The product id.
    pub id: &'a str,
    /// The sort value.
    pub value: f64,
}

/// Whether the order is descending in its sort value before `reverse` (relevance and best
/// selling put the highest first).
pub fn descending(sort: SearchSort) -> bool {
    matches!(sort, SearchSort::Relevance | SearchSort::BestSelling)
}

/// The comparison of two results in list order: by value (highest first for relevance and
/// best selling), ties by id A to Z, the whole order flipped by `reverse` (as the catalog's
/// listings order).
pub fn compare(sort: SearchSort, reverse: bool) -> impl Fn(&Ranked, &Ranked) -> Ordering {
    let down = descending(sort);
    move |a, b| {
        let by_value = a.value.total_cmp(&b.value);
        let by_value = if down { by_value.reverse() } else { by_value };
        let order = by_value.then_with(|| a.id.cmp(b.id));
        if reverse { order.reverse() } else { order }
    }
}

/// One page: results after (or, backward, before) `cursor` in list order, at most `limit`,
/// given in list order; and whether more follow in the direction read.
pub fn page(
    mut ranked: Vec<Ranked<'_>>,
    sort: SearchSort,
    reverse: bool,
    cursor: Option<&Position>,
    backward: bool,
    limit: usize,
) -> (Vec<Hit>, bool) {
    let list_order = compare(sort, reverse);
    // Read backward: the same as reading forward in the reversed order.
    let order = |a: &Ranked, b: &Ranked| {
        let o = list_order(a, b);
        if backward { o.reverse() } else { o }
    };
    if let Some(cursor) = cursor {
        let at = Ranked {
            id: &cursor.id,
            value: cursor.value,
        };
        ranked.retain(|r| order(r, &at) == Ordering::Greater);
    }
    let has_more = ranked.len() > limit;
    if has_more && limit > 0 {
        ranked.select_nth_unstable_by(limit - 1, order);
    }
    ranked.truncate(limit);
    ranked.sort_unstable_by(order);
    if backward {
        ranked.reverse();
    }
    let hits = ranked
        .into_iter()
        .map(|r| Hit {
            id: r.id.to_owned(),
            position: Position {
                value: r.value,
                id: r.id.to_owned(),
            },
        })
        .collect();
    (hits, has_more)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(values: &[(&'static str, f64)]) -> Vec<Ranked<'static>> {
        values
            .iter()
            .map(|(id, value)| Ranked { id, value: *value })
            .collect()
    }

    fn ids(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.id.as_str()).collect()
    }

    #[test]
    fn pages_forward_and_backward_meet_without_gaps_or_repeats() {
        let all = [("a", 3.0), ("b", 1.0), ("c", 2.0), ("d", 2.0), ("e", 5.0)];
        let (first, more) = page(ranked(&all), SearchSort::Price, false, None, false, 2);
        assert_eq!((ids(&first), more), (vec!["b", "c"], true));
        let after = first.last().map(|h| h.position.clone());
        let (second, more) = page(
            ranked(&all),
            SearchSort::Price,
            false,
            after.as_ref(),
            false,
            2,
        );
        assert_eq!((ids(&second), more), (vec!["d", "a"], true));
        let before = second.first().map(|h| h.position.clone());
        let (back, more) = page(
            ranked(&all),
            SearchSort::Price,
            false,
            before.as_ref(),
            true,
            5,
        );
        assert_eq!((ids(&back), more), (vec!["b", "c"], false));
        let (last, _) = page(ranked(&all), SearchSort::Price, false, None, true, 1);
        assert_eq!(ids(&last), ["e"]);
    }

    #[test]
    fn relevance_puts_the_highest_first_and_reverse_flips_it() {
        let all = [("a", 0.5), ("b", 2.0), ("c", 1.0)];
        let (hits, _) = page(ranked(&all), SearchSort::Relevance, false, None, false, 3);
        assert_eq!(ids(&hits), ["b", "c", "a"]);
        let (hits, _) = page(ranked(&all), SearchSort::Relevance, true, None, false, 3);
        assert_eq!(ids(&hits), ["a", "c", "b"]);
    }
}
