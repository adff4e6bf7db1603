"""The Alloy configuration language: one syntax tree (:mod:`~kit.alloy.syntax`), a writer for
the programs (:mod:`~kit.alloy.writer`) and a parser for ``fleet verify`` (:mod:`~kit.alloy.parser`)."""
