//! TODO(owner): see task
