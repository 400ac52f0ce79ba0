//! Assets: a client's devices and licences, their warranties and history.
