//! Everything a plugin usually needs: `use rosey_sdk::prelude::*;`.

pub use crate::sql::{Row, Rows, Statement, Value};
pub use crate::{
    ChatMessage, Command, Context, Error, Message, Plugin, Result, bail, bus, chat, config, ensure,
    export_plugin, kv, log, params, sql,
};
