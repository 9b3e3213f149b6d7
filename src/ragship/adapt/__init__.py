"""Domain adaptation: fine-tune the embedding model on the user's own data (labeled queries, or the corpus
itself), validate it on held-out queries, save it in the home, and build a new index version with it."""
