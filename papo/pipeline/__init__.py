"""Workers: inbound (persist, then hand on), and the stages later issues add."""
