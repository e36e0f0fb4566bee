//! Inputs of the customer mutations, and their checks (each failure a user error naming the
//! field).

use async_graphql::InputObject;
use storefront_loaders::identity::{Address, Email, ProfileChanges};

use super::user_errors::{CustomerErrorCode, CustomerUserError};

/// The longest name accepted.
const MAX_NAME_CHARS: usize = 100;
/// The longest address line accepted.
const MAX_LINE_CHARS: usize = 255;
/// The most addresses a customer can save.
pub const MAX_ADDRESSES: usize = 10;
/// The longest password accepted by any engine (hashing cost grows with length).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A new customer's details.
#[derive(InputObject, Debug, Clone)]
pub struct CustomerSignUpInput {
    /// The email to sign in with; a confirmation code is sent to it.
    pub email: String,
    /// The password: at least 8 characters with a letter and a digit or symbol.
    pub password: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Whether the customer agrees to marketing email (default: no).
    #[graphql(default)]
    pub accepts_marketing: bool,
}

/// Changes to the signed-in customer's profile; omitted fields stay as they are.
#[derive(InputObject, Debug, Clone, Default)]
pub struct CustomerUpdateInput {
    /// Given name (empty clears it).
    pub first_name: Option<String>,
    /// Family name (empty clears it).
    pub last_name: Option<String>,
    /// Consent to marketing email.
    pub accepts_marketing: Option<bool>,
    /// The complete address list, replacing the saved one; the first is the default.
    pub addresses: Option<Vec<MailingAddressInput>>,
}

/// A postal address.
#[derive(InputObject, Debug, Clone, Default)]
pub struct MailingAddressInput {
    /// Recipient's given name.
    pub first_name: Option<String>,
    /// Recipient's family name.
    pub last_name: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// Street and number.
    pub address1: String,
    /// Apartment, suite, floor.
    pub address2: Option<String>,
    /// City.
    pub city: String,
    /// State, province or region.
    pub province: Option<String>,
    /// Postal code.
    pub zip: Option<String>,
    /// ISO 3166-1 alpha-2 country code, such as "US".
    pub country_code: String,
    /// Phone number.
    pub phone: Option<String>,
}

/// Collects the user errors of one input.
#[derive(Default)]
pub struct Checks {
    /// The errors so far.
    pub errors: Vec<CustomerUserError>,
}

impl Checks {
    fn fail(&mut self, path: &[&str], code: CustomerErrorCode, message: String) {
        self.errors
            .push(CustomerUserError::new(path, code, message));
    }

    /// The parsed email, or an error at `path`.
    pub fn email(&mut self, path: &[&str], raw: &str) -> Option<Email> {
        match Email::parse(raw) {
            Ok(email) => Some(email),
            Err(why) => {
                let code = if raw.trim().is_empty() {
                    CustomerErrorCode::Blank
                } else {
                    CustomerErrorCode::Invalid
                };
                self.fail(path, code, why.to_owned());
                None
            }
        }
    }

    /// Refuses a blank or overlong password (each engine checks its own policy beyond that).
    pub fn password(&mut self, path: &[&str], password: &str) {
        if password.is_empty() {
            self.fail(path, CustomerErrorCode::Blank, "enter a password".into());
        } else if password.chars().count() > MAX_PASSWORD_CHARS {
            self.fail(
                path,
                CustomerErrorCode::TooLong,
                format!("the password has more than {MAX_PASSWORD_CHARS} characters"),
            );
        }
    }

    /// A one-time code: 1 to 64 printable characters.
    pub fn code(&mut self, path: &[&str], code: &str) {
        let code = code.trim();
        if code.is_empty() {
            self.fail(path, CustomerErrorCode::Blank, "enter the code".into());
        } else if code.len() > 64 || code.chars().any(char::is_control) {
            self.fail(
                path,
                CustomerErrorCode::Invalid,
                "this is not a code we sent".into(),
            );
        }
    }

    fn text(&mut self, path: &[&str], value: &Option<String>, max: usize) -> Option<String> {
        let value = value.as_ref()?.trim();
        if value.chars().count() > max {
            self.fail(
                path,
                CustomerErrorCode::TooLong,
                format!("at most {max} characters"),
            );
        }
        Some(value.to_owned())
    }

    fn required(&mut self, path: &[&str], value: &str, max: usize) -> String {
        let value = value.trim();
        if value.is_empty() {
            self.fail(path, CustomerErrorCode::Blank, "required".into());
        }
        self.text(path, &Some(value.to_owned()), max)
            .unwrap_or_default()
    }

    /// The checked address at `base`, with an error per field at fault.
    pub fn address(&mut self, base: &[&str], a: &MailingAddressInput) -> Address {
        let at = |field: &'static str| -> Vec<&str> {
            let mut path = base.to_vec();
            path.push(field);
            path
        };
        let optional = |checks: &mut Self, field, value: &Option<String>| {
            checks
                .text(&at(field), value, MAX_LINE_CHARS)
                .filter(|v| !v.is_empty())
        };
        let country_code = a.country_code.trim().to_ascii_uppercase();
        if country_code.len() != 2 || !country_code.bytes().all(|b| b.is_ascii_uppercase()) {
            self.fail(
                &at("countryCode"),
                CustomerErrorCode::Invalid,
                "a two-letter ISO 3166-1 country code, such as \"US\"".into(),
            );
        }
        Address {
            first_name: optional(self, "firstName", &a.first_name),
            last_name: optional(self, "lastName", &a.last_name),
            company: optional(self, "company", &a.company),
            address1: self.required(&at("address1"), &a.address1, MAX_LINE_CHARS),
            address2: optional(self, "address2", &a.address2),
            city: self.required(&at("city"), &a.city, MAX_LINE_CHARS),
            province: optional(self, "province", &a.province),
            zip: optional(self, "zip", &a.zip),
            country_code,
            phone: optional(self, "phone", &a.phone),
        }
    }

    /// The profile changes of a sign-up.
    pub fn sign_up_profile(&mut self, input: &CustomerSignUpInput) -> ProfileChanges {
        ProfileChanges {
            first_name: self.text(&["input", "firstName"], &input.first_name, MAX_NAME_CHARS),
            last_name: self.text(&["input", "lastName"], &input.last_name, MAX_NAME_CHARS),
            accepts_marketing: Some(input.accepts_marketing),
            addresses: None,
        }
    }

    /// The profile changes of an update.
    pub fn update(&mut self, input: &CustomerUpdateInput) -> ProfileChanges {
        let addresses = input.addresses.as_ref().map(|list| {
            if list.len() > MAX_ADDRESSES {
                self.fail(
                    &["customer", "addresses"],
                    CustomerErrorCode::TooMany,
                    format!("at most {MAX_ADDRESSES} addresses"),
                );
            }
            list.iter()
                .enumerate()
                .map(|(i, a)| {
                    let index = i.to_string();
                    self.address(&["customer", "addresses", &index], a)
                })
                .collect()
        });
        ProfileChanges {
            first_name: self.text(
                &["customer", "firstName"],
                &input.first_name,
                MAX_NAME_CHARS,
            ),
            last_name: self.text(&["customer", "lastName"], &input.last_name, MAX_NAME_CHARS),
            accepts_marketing: input.accepts_marketing,
            addresses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_address_field_is_named() {
        let mut checks = Checks::default();
        let input = CustomerUpdateInput {
            addresses: Some(vec![
                MailingAddressInput {
                    address1: "1 Main St".into(),
                    city: "Springfield".into(),
                    country_code: "us".into(),
                    ..MailingAddressInput::default()
                },
                MailingAddressInput {
                    address1: " ".into(),
                    city: "x".repeat(300),
                    country_code: "USA".into(),
                    ..MailingAddressInput::default()
                },
            ]),
            ..CustomerUpdateInput::default()
        };
        let changes = checks.update(&input);
        let fields: Vec<String> = checks
            .errors
            .iter()
            .map(|e| e.field.clone().unwrap_or_default().join("."))
            .collect();
        assert_eq!(
            fields,
            [
                "customer.addresses.1.countryCode",
                "customer.addresses.1.address1",
                "customer.addresses.1.city"
            ]
        );
        assert_eq!(changes.addresses.expect("addresses")[0].country_code, "US");
    }
}
