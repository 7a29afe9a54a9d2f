//! The Scheduler service, served at `/scheduler`: `keboola.scheduler` Storage configurations
//! activated as schedules (`schedules`, HTTP in `api`), their crontab in a time zone (`cron`,
//! `definition`), and the loop inside `kbstack serve` that turns due times into Queue jobs
//! (`firing`). Schedules are kept by `ScheduleStore` (`meta::schedules`).
pub mod api;
pub mod cron;
pub mod definition;
pub mod firing;
pub mod schedules;
pub mod wire;
