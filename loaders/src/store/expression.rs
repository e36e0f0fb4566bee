//! Conditions and updates: the subset of DynamoDB's expression language the domain uses.

use serde_json::Value;

use super::{Item, PK, StoreError};

/// A condition on one item, as DynamoDB's `ConditionExpression` / `FilterExpression`.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The item exists (`attribute_exists(pk)`).
    ItemExists,
    /// The item does not exist (`attribute_not_exists(pk)`).
    ItemNotExists,
    /// The attribute exists.
    AttributeExists(String),
    /// The attribute does not exist.
    AttributeNotExists(String),
    /// The attribute equals the value (false when it is missing).
    Equals(String, Value),
    /// The attribute is a number at least this large (false when missing or not a number).
    AtLeast(String, i64),
    /// Every condition holds.
    And(Vec<Condition>),
    /// At least one condition holds.
    Or(Vec<Condition>),
    /// The condition does not hold.
    Not(Box<Condition>),
}

impl Condition {
    /// `attribute = value`.
    pub fn equals(name: impl Into<String>, value: impl Into<Value>) -> Self {
        Condition::Equals(name.into(), value.into())
    }

    /// The attribute still holds what was read: `read`, or nothing when nothing was there
    /// (what a conditional write decided from must not have changed under it).
    pub fn as_read(name: impl Into<String>, read: Option<impl Into<Value>>) -> Self {
        match read {
            Some(value) => Condition::equals(name, value),
            None => Condition::AttributeNotExists(name.into()),
        }
    }

    /// Whether the condition holds for `item` (`None`: the item does not exist).
    pub fn holds(&self, item: Option<&Item>) -> bool {
        let attr = |name: &str| item.and_then(|i| i.get(name));
        match self {
            Condition::ItemExists => attr(PK).is_some(),
            Condition::ItemNotExists => attr(PK).is_none(),
            Condition::AttributeExists(name) => attr(name).is_some(),
            Condition::AttributeNotExists(name) => attr(name).is_none(),
            Condition::Equals(name, value) => attr(name).is_some_and(|v| values_equal(v, value)),
            Condition::AtLeast(name, min) => attr(name)
                .and_then(as_integer)
                .is_some_and(|v| v >= i128::from(*min)),
            Condition::And(all) => all.iter().all(|c| c.holds(item)),
            Condition::Or(any) => any.iter().any(|c| c.holds(item)),
            Condition::Not(inner) => !inner.holds(item),
        }
    }
}

/// A change to some attributes of an item, as DynamoDB's `UpdateExpression`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// `SET name = value`.
    pub set: Vec<(String, Value)>,
    /// `REMOVE name`.
    pub remove: Vec<String>,
    /// `ADD name delta`: a missing attribute counts as 0.
    pub add: Vec<(String, i64)>,
}

impl Update {
    /// An update that sets one attribute.
    pub fn set(name: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::default().and_set(name, value)
    }

    /// Also sets an attribute.
    pub fn and_set(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set.push((name.into(), value.into()));
        self
    }

    /// An update that adds `delta` to a number attribute.
    pub fn add(name: impl Into<String>, delta: i64) -> Self {
        Self {
            add: vec![(name.into(), delta)],
            ..Self::default()
        }
    }

    /// The names of the attributes the update touches.
    pub fn attribute_names(&self) -> impl Iterator<Item = &str> {
        self.set
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(self.remove.iter().map(String::as_str))
            .chain(self.add.iter().map(|(n, _)| n.as_str()))
    }

    /// Applies the update to `item` in place.
    pub fn apply(&self, item: &mut Item) -> Result<(), StoreError> {
        for name in self.attribute_names() {
            if name == super::PK || name == super::SK {
                return Err(StoreError::Validation(
                    "an update cannot change the key attributes".into(),
                ));
            }
        }
        for (name, value) in &self.set {
            item.insert(name.clone(), value.clone());
        }
        for name in &self.remove {
            item.remove(name);
        }
        for (name, delta) in &self.add {
            let current = match item.get(name) {
                None => 0,
                Some(v) => as_integer(v).ok_or_else(|| {
                    StoreError::Validation(format!("ADD needs a number attribute, `{name}` is not"))
                })?,
            };
            let next = i64::try_from(current + i128::from(*delta))
                .map_err(|_| StoreError::Validation(format!("ADD overflows attribute `{name}`")))?;
            item.insert(name.clone(), Value::from(next));
        }
        Ok(())
    }
}

fn as_integer(v: &Value) -> Option<i128> {
    let n = v.as_number()?;
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                .map(|f| f as i128)
        })
}

// DynamoDB compares numbers by value (1 = 1.0), everything else structurally.
fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (as_integer(a), as_integer(b)) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: Value) -> Item {
        v.as_object().expect("object").clone()
    }

    #[test]
    fn conditions_treat_a_missing_item_as_having_no_attributes() {
        assert!(Condition::ItemNotExists.holds(None));
        assert!(!Condition::ItemExists.holds(None));
        assert!(!Condition::equals("a", 1).holds(None));
        assert!(Condition::Not(Box::new(Condition::equals("a", 1))).holds(None));
    }

    #[test]
    fn as_read_holds_only_while_the_attribute_is_what_was_read() {
        let at_five = item(json!({"pk": "P", "sk": "S", "v": 5}));
        let without = item(json!({"pk": "P", "sk": "S"}));
        assert!(Condition::as_read("v", Some(5)).holds(Some(&at_five)));
        assert!(!Condition::as_read("v", Some(4)).holds(Some(&at_five)));
        assert!(!Condition::as_read("v", Some(5)).holds(Some(&without)));
        assert!(Condition::as_read("v", None::<i64>).holds(Some(&without)));
        assert!(!Condition::as_read("v", None::<i64>).holds(Some(&at_five)));
    }

    #[test]
    fn numbers_compare_by_value() {
        let it = item(json!({"pk": "p", "sk": "s", "n": 3}));
        assert!(Condition::equals("n", 3.0).holds(Some(&it)));
        assert!(Condition::AtLeast("n".into(), 3).holds(Some(&it)));
        assert!(!Condition::AtLeast("n".into(), 4).holds(Some(&it)));
    }

    #[test]
    fn add_starts_missing_attributes_at_zero_and_rejects_non_numbers() {
        let mut it = item(json!({"pk": "p", "sk": "s", "t": "x"}));
        Update::add("n", 5).apply(&mut it).expect("add");
        assert_eq!(it["n"], json!(5));
        assert!(Update::add("t", 1).apply(&mut it).is_err());
        assert!(Update::set("pk", "other").apply(&mut it).is_err());
    }
}
