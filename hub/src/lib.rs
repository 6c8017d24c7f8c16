//! The Region's hub (see docs/ARCHITECTURE.md).
