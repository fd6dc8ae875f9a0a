"""What a person reads: the HTML report, the support paradox in words, and the demo."""
