"""The command's application layer on top of `aeries_source`: run loop, summary, progress, audit, logging."""
