"""What the tests of every tier share: fakes, fixtures' building blocks, audio checks and request helpers.

Test modules import shared code from here and from nowhere else (never from another test module or a
conftest); conftest files build their fixtures from it too.
"""
