//! The host side of the `rosey:plugin@0.1.0` WIT world: the one `bindgen!`.
#![allow(missing_docs)] // generated code; the WIT files carry the documentation

wasmtime::component::bindgen!({
    path: "../wit",
    world: "rosey:plugin/plugin",
    imports: { default: async | trappable },
    exports: { default: async },
    trappable_error_type: {
        "rosey:plugin/types.error" => crate::capabilities::HostError,
    },
});

pub use exports::rosey::plugin::guest::{Command, Message};
pub use rosey::plugin::sql::{RowSet, Statement, Value};
pub use rosey::plugin::types::Error as WitError;
