//! Projects: a client's pieces of work, their tasks and linked tickets.
