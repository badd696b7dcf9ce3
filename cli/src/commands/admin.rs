//! `rosey admin token [--rotate]`: the token of the admin API and the web
//! dashboard.

use anyhow::Result;
use clap::{Args, Subcommand};
use rosey_host::admin::token;

use super::Context;
use crate::output::{OutputFormat, print_json};
use crate::process;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Print the admin token (made if there is none yet), or replace it.
    ///
    /// The token logs in to the dashboard and is the API's bearer token
    /// (`Authorization: Bearer <token>`). It lives in ROSEY_HOME/admin.token,
    /// readable by its owner only. --rotate replaces it: a running host
    /// takes the new one at once, and every dashboard session ends.
    Token(Token),
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rosey admin token                    print it (to paste into the dashboard's login)
  rosey admin token --rotate           a new token; the old one and its sessions stop working
  curl -H \"Authorization: Bearer $(rosey admin token)\" http://127.0.0.1:7780/api/status")]
pub struct Token {
    /// Replace the token with a new one.
    #[arg(long)]
    rotate: bool,
}

impl AdminCommand {
    pub fn run(self, ctx: &Context) -> Result<()> {
        match self {
            Self::Token(t) => t.run(ctx),
        }
    }
}

impl Token {
    fn run(self, ctx: &Context) -> Result<()> {
        let value = if self.rotate {
            token::rotate(&ctx.home)?
        } else {
            token::load_or_create(&ctx.home)?
        };
        let dashboard = process::read_status(&ctx.home).and_then(|s| s.admin);
        match ctx.output {
            OutputFormat::Json => print_json(&serde_json::json!({
                "token": value,
                "file": ctx.home.admin_token(),
                "rotated": self.rotate,
                "dashboard": dashboard,
            })),
            OutputFormat::Text => {
                println!("{value}");
                if self.rotate {
                    eprintln!("rotated: the old token and every dashboard session no longer work");
                }
                Ok(())
            }
        }
    }
}
