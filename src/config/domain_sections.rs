//! The domains' sections of the configuration: kept as TOML, set from code or from the
//! domains' `STOREFRONT_*` variables, and checked by the domain that owns each.

use std::collections::BTreeMap;

use super::{Config, ConfigError};

impl Config {
    /// The section of the domain `name` (empty when the file has none).
    pub fn section(&self, name: &str) -> toml::Table {
        self.sections.get(name).cloned().unwrap_or_default()
    }

    /// Sets `key` (dotted for sub-tables: `cognito.client_id`) in the domain section `name`;
    /// for tests and tools that build a config in code.
    pub fn set(&mut self, name: &str, key: &str, value: impl Into<toml::Value>) -> &mut Self {
        let section = self.sections.entry(name.to_owned()).or_default();
        storefront_loaders::domain::set_key(section, key, Some(value.into()));
        self
    }

    /// This config with `key` set in the domain section `name` (see [`Config::set`]).
    pub fn with_section(mut self, name: &str, key: &str, value: impl Into<toml::Value>) -> Self {
        self.set(name, key, value);
        self
    }

    /// Applies the domains' `STOREFRONT_*` variables found among `vars`.
    pub fn with_domain_variables(
        mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let vars: BTreeMap<String, String> = vars.into_iter().collect();
        for domain in storefront_schema::DOMAINS {
            for variable in domain.variables() {
                let Some(text) = vars.get(variable.name) else {
                    continue;
                };
                let value = storefront_loaders::domain::variable_value(variable, text)
                    .map_err(|e| ConfigError::Domain(e.to_string()))?;
                let section = self.sections.entry(domain.name().to_owned()).or_default();
                storefront_loaders::domain::set_key(section, variable.key, value);
            }
        }
        Ok(self)
    }
}
