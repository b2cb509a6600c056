"""Pure functions on strings: punctuation, numerals, words, cleaning, outline headings,
sentences and passages, what a question asks."""
