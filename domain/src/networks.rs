//! Networks: a client's address ranges.
