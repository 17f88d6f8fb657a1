"""Ground: what every layer may import (errors, paths, atomic files, network, the engines' replies)."""
