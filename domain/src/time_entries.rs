//! Time entries: work logged on tickets, tasks and projects, and billing it.
