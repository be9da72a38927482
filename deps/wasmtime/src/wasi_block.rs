//! Interruptible replacements for the WASI functions that can block.
