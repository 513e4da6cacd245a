"""Naming the goto label an error path skipped, from the source alone."""

from pathlib import Path

from kmodlab.grader.verdicts.labels import find_skipped_label

LADDER = (
    Path(__file__).parent.parent / "data" / "grader" / "ladder_skips_one" / "ladder_skips_one.c"
)


def test_the_skipped_label_of_a_broken_ladder_is_named():
    """Is `free_buf:` named as skipped, with the goto that jumped over it and the release?"""
    found = find_skipped_label(LADDER.read_text(), 51, 60, [66, 67])
    assert (found.label, found.label_line) == ("free_buf", 71)
    assert (found.release_line, found.release_text) == (72, "kfree(buf);")
    assert found.taken == "remove_entry" and found.jump_line == 68
    assert found.explain("misc_register", 60) == (
        "after misc_register() failed on line 60, init jumped to `remove_entry` and the goto on "
        "line 68 skips the label `free_buf:` (line 71), whose `kfree(buf);` (line 72) would "
        "have released it"
    )


def test_comments_mentioning_a_release_do_not_count():
    """Is `goto out; /* skips kfree(buf) */` not taken for the release of buf?"""
    src = (
        "static int __init f(void)\n{\n\tbuf = kzalloc(8, GFP_KERNEL);\n"
        "\tif (register_x())\n\t\tgoto out; /* skips kfree(buf) */\n"
        "free_buf:\n\tkfree(buf);\nout:\n\treturn -ENOMEM;\n}\n"
    )
    found = find_skipped_label(src, 3, 4, [])
    assert found.label == "free_buf" and found.release_line == 7 and found.taken == "out"


def test_no_hint_when_the_source_has_no_release_for_it():
    """When nothing in init releases the variable, is there no guess?"""
    src = "int f(void)\n{\n\tp = kmalloc(4, GFP_KERNEL);\n\tif (g())\n\t\treturn -1;\n}\n"
    assert find_skipped_label(src, 3, 4, []) is None
    assert find_skipped_label(src, 99, 4, []) is None
