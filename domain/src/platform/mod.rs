//! The platform every context uses: the record of jobs, the schedules
//! the scheduler fires, and outbound mail with its delivery state.

pub mod jobs;
pub mod mail;
pub mod schedules;
