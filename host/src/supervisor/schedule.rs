//! Manifest schedules: `every: 15m` or `cron: "0 9 * * *"` (UTC), each a
//! task that puts `on-schedule` events in the plugin's mailbox. A tick that
//! finds the mailbox full is dropped and counted, never queued without bound.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::Shared;
use super::runner::Event;
use crate::package::{PluginName, Schedule};

/// Start the tasks for `plugin`'s `schedules`.
pub(crate) fn spawn(
    shared: &Arc<Shared>,
    plugin: &PluginName,
    schedules: &[Schedule],
) -> Vec<JoinHandle<()>> {
    schedules
        .iter()
        .filter_map(|schedule| {
            let shared = Arc::clone(shared);
            let plugin = plugin.clone();
            let name = schedule.name.clone();
            if let Some(every) = &schedule.every {
                return Some(tokio::spawn(every_period(shared, plugin, name, every.0)));
            }
            let pattern = schedule.cron.as_deref()?;
            match croner::Cron::from_str(pattern) {
                Ok(cron) => Some(tokio::spawn(on_cron(shared, plugin, name, cron))),
                Err(e) => {
                    tracing::error!(%plugin, schedule = %name, "bad cron pattern {pattern:?}: {e}");
                    None
                }
            }
        })
        .collect()
}

fn fire(shared: &Shared, plugin: &PluginName, name: &str) {
    if let Some(handle) = shared.plugin(plugin)
        && !handle.deliver(Event::Schedule(name.to_owned()))
    {
        tracing::debug!(%plugin, schedule = name, "schedule tick dropped (busy or stopped)");
    }
}

async fn every_period(shared: Arc<Shared>, plugin: PluginName, name: String, period: Duration) {
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        fire(&shared, &plugin, &name);
    }
}

async fn on_cron(shared: Arc<Shared>, plugin: PluginName, name: String, cron: croner::Cron) {
    loop {
        let now = chrono::Utc::now();
        let Ok(next) = cron.find_next_occurrence(&now, false) else {
            tracing::warn!(%plugin, schedule = %name, "the cron pattern never fires again");
            return;
        };
        let wait = (next - now).to_std().unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
        fire(&shared, &plugin, &name);
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::{TimeZone, Utc};

    #[test]
    fn cron_patterns_are_evaluated_in_utc() {
        let cron = croner::Cron::from_str("0 9 * * *").unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        let next = cron.find_next_occurrence(&now, false).unwrap();
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap());
        let every_15 = croner::Cron::from_str("*/15 * * * *").unwrap();
        let next = every_15.find_next_occurrence(&now, false).unwrap();
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 11, 22, 10, 15, 0).unwrap());
    }
}
