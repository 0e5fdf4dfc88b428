//! The rules a build knows, by id: the French rules, and any an application adds (a test's, a
//! country's implemented outside this crate).

use super::fiscal::FiscalRules;
use super::france::France;
use pos_format::body::OpeningBody;
use std::sync::Arc;

/// The fiscal rules known to a journal or a verifier. The default knows the French rules.
#[derive(Debug, Clone)]
pub struct RuleBook {
    rules: Vec<Arc<dyn FiscalRules>>,
}

impl Default for RuleBook {
    fn default() -> Self {
        RuleBook {
            rules: vec![Arc::new(France)],
        }
    }
}

impl RuleBook {
    /// These rules and `rules` (which replaces any of the same id).
    pub fn with(mut self, rules: Arc<dyn FiscalRules>) -> RuleBook {
        self.rules.retain(|r| r.id() != rules.id());
        self.rules.push(rules);
        self
    }

    /// The rules `opening` names, or why they are not known.
    pub fn for_opening(&self, opening: &OpeningBody) -> Result<Arc<dyn FiscalRules>, String> {
        let id = opening.fiscal_rules_id();
        self.rules
            .iter()
            .find(|r| r.id() == id)
            .cloned()
            .ok_or_else(|| format!("the fiscal rules {id:?} are not known to this build"))
    }
}
