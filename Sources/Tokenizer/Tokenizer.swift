// The Llama-3 tokenizer module (issue 3).
