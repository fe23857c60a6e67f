"""Entry points and composition: CLI, typed config, the rebuild graph, runner options."""
