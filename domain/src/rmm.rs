//! RMM alerts: monitoring alerts in, as tickets.
