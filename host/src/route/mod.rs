//! Routes in the Azure IoT Edge grammar:
//! `[SELECT *] FROM <source> [WHERE <condition>] INTO <sink>`, keywords in any
//! case. A route compiles once into a [`Route`]: a [`Source`] to match, an
//! optional compiled [`Condition`], and a [`Sink`].

pub mod condition;
mod grammar;
pub mod sample;

pub use condition::{BodyPath, Condition, ConditionError, MessageView, Tri};
pub use grammar::parse_route;

use std::fmt;

/// Where a route takes messages from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `/*` (or `/`): every message, and twin change notifications.
    All,
    /// `/messages/*` (or `/messages`): every message from modules and leaf
    /// devices.
    AllMessages,
    /// `/messages/modules/*` (or `/messages/modules`): every message from any
    /// module.
    AllModules,
    /// `/messages/modules/<m>/*` or `/messages/modules/<m>/outputs/*` (or
    /// either without the `/*`): every message from module `m`.
    Module(String),
    /// `/messages/modules/<m>/outputs/<o>`: messages from output `o` of module `m`.
    ModuleOutput(String, String),
    /// `/twinChangeNotifications`.
    TwinChangeNotifications,
}

/// What kind of thing a message came from, for matching against a [`Source`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin<'a> {
    /// A module's output.
    Module {
        /// The module.
        module: &'a str,
        /// The output.
        output: &'a str,
    },
    /// A leaf device.
    Device(&'a str),
    /// A twin change notification.
    TwinChange,
}

impl Source {
    /// Whether a message from `origin` comes under this source.
    pub fn matches(&self, origin: Origin<'_>) -> bool {
        match (self, origin) {
            (Source::All, _) => true,
            (Source::AllMessages, Origin::Module { .. } | Origin::Device(_)) => true,
            (Source::AllModules, Origin::Module { .. }) => true,
            (Source::Module(m), Origin::Module { module, .. }) => m == module,
            (Source::ModuleOutput(m, o), Origin::Module { module, output }) => {
                m == module && o == output
            }
            (Source::TwinChangeNotifications, Origin::TwinChange) => true,
            _ => false,
        }
    }

    /// The module this source names, if any.
    pub fn module(&self) -> Option<&str> {
        match self {
            Source::Module(m) | Source::ModuleOutput(m, _) => Some(m),
            _ => None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::All => write!(f, "/*"),
            Source::AllMessages => write!(f, "/messages/*"),
            Source::AllModules => write!(f, "/messages/modules/*"),
            Source::Module(m) => write!(f, "/messages/modules/{m}/*"),
            Source::ModuleOutput(m, o) => write!(f, "/messages/modules/{m}/outputs/{o}"),
            Source::TwinChangeNotifications => write!(f, "/twinChangeNotifications"),
        }
    }
}

/// Where a route sends what it matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Sink {
    /// `BrokeredEndpoint("/modules/<m>/inputs/<i>")`: input `i` of module `m`.
    ModuleInput(String, String),
    /// `$upstream`: the cloud.
    Upstream,
}

impl fmt::Display for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sink::ModuleInput(m, i) => write!(f, "BrokeredEndpoint(\"/modules/{m}/inputs/{i}\")"),
            Sink::Upstream => write!(f, "$upstream"),
        }
    }
}

/// A compiled route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Where it takes messages from.
    pub source: Source,
    /// The `WHERE` condition, if any.
    pub condition: Option<Condition>,
    /// Where it sends them.
    pub sink: Sink,
}

impl Route {
    /// Whether a message from `origin` takes this route. `view` is the message.
    pub fn accepts(&self, origin: Origin<'_>, view: &MessageView<'_>) -> bool {
        self.source.matches(origin)
            && self
                .condition
                .as_ref()
                .is_none_or(|c| c.evaluate(view) == Tri::True)
    }
}

/// A route that does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    /// The 0-based character column in the route text.
    pub column: usize,
    /// What was found there.
    pub found: String,
    /// What was expected there.
    pub expected: String,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "column {}: expected {}, found {}",
            self.column + 1,
            self.expected,
            self.found
        )
    }
}

impl std::error::Error for RouteError {}

impl From<ConditionError> for RouteError {
    fn from(e: ConditionError) -> Self {
        RouteError {
            column: e.column,
            found: e.found,
            expected: e.expected,
        }
    }
}

/// One route of a deployment, as the manifest names it.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSpec {
    /// Its name.
    pub name: String,
    /// The route as written.
    pub text: String,
    /// The compiled route.
    pub route: Route,
    /// 0 (highest) to 9 (lowest); unset sorts after 9.
    pub priority: Option<u8>,
    /// How long a message this route sends to `$upstream` may wait there,
    /// overriding the store-and-forward default.
    pub time_to_live: Option<std::time::Duration>,
}
