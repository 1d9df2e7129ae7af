//! # Postern core
//!
//! The framework-agnostic heart of Postern.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod storage;

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
