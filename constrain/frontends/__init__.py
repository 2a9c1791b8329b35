"""Front-ends: each lowers one input language (JSON Schema, Lark, regex) to the grammar IR or a byte DFA."""
