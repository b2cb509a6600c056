"""Imported by the server process that upload workers fork from (isolated.py): the
reading stack and its dictionaries, loaded once there, are every worker's from the start."""

from retriever.reading import docx, encoding, html, load, pdf  # noqa: F401 - what the workers run
from retriever.text import words

words.cut("预热")  # the cutter that re-joins words broken across lines
encoding._word_model()  # jieba's word frequencies, which tell GB18030 from Big5
