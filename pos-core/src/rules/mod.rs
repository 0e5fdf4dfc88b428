//! Fiscal rules: the seam between the journal and a country's rules. An opening names its
//! rules (`fiscal_rules`, the French rules when absent) and the journal's writer and the
//! verifier follow them for the journal's whole life: what an opening must carry, the event
//! codes, and the calendar of closures ([`Calendar`]; the state machine that totals them is
//! [`crate::closure`]).

pub(crate) mod book;
pub(crate) mod calendar;
pub(crate) mod fiscal;
pub(crate) mod france;

pub use book::RuleBook;
pub use calendar::{local_date, Calendar, MonthCalendar, PeriodKey};
pub use fiscal::FiscalRules;
pub use france::{month_calendar, validate_identity, validate_terms, France};
