"""The resource model: which configurations fit which board, and the refusal messages."""

import pytest

from spikeforge.boards.registry import BOARDS, BoardError, get_board
from spikeforge.boards.resources import (check, core_supports_spram, estimate, largest_neurons,
                                         link_memories, memories)
from spikeforge.config import ConfigError, CoreConfig


def test_memories_follow_the_config():
    config = CoreConfig(neurons=100, inputs=20, lanes=4, banks=2)
    found = {name: (depth, width) for name, depth, width in memories(config)}
    # rows interleaved over 2 banks: 50 neuron rows + 10 input rows of 25 words in each
    assert found["weights0"] == found["weights1"] == (60 * 25, 4 * config.weight_bits)
    assert found["mask1"] == (60 * 25, 4)
    assert found["xtrace1"] == (50, config.trace_bits)
    assert [name for name in found if name.startswith("acc")] == ["acc0", "acc1", "acc2", "acc3"]
    assert found["acc0"] == (25, config.acc_bits)
    assert "xintrace0" in found and "input_list" in found


@pytest.mark.parametrize("config", [
    CoreConfig(neurons=20, inputs=6, lanes=4, banks=2),
    CoreConfig(neurons=9, inputs=0, lanes=1, stdp=False, adaptive_threshold=False),
    CoreConfig(neurons=12, inputs=5, lanes=1, banks=1, stdp=False, single_port_weights=True),
], ids=["learning", "no_inputs", "single_port"])
def test_model_lists_exactly_the_memories_the_core_builds(config):
    from amaranth.hdl import Fragment, Shape
    from amaranth.hdl._mem import MemoryInstance
    from spikeforge.rtl.core import Core

    built = {}

    def walk(fragment):
        for sub, name, *_ in fragment.subfragments:
            if isinstance(sub, MemoryInstance):
                built[name] = (sub._data.depth, Shape.cast(sub._data.shape).width)
            walk(sub)

    walk(Fragment.get(Core(config), None))
    model = {name: (depth, width) for name, depth, width in memories(config)
             if name not in {item[0] for item in link_memories(config)}}
    assert model == built


def test_no_learning_drops_mask_and_traces():
    names = {name for name, _, _ in memories(CoreConfig(stdp=False))}
    assert not any(name.startswith(("mask", "xtrace", "ytrace")) for name in names)


def test_no_inputs_drops_input_memories():
    names = {name for name, _, _ in memories(CoreConfig(inputs=0))}
    assert not names & {"input_list", "input_map", "xintrace0", "poisson_rate"}


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_every_default_config_fits_its_board(board):
    assert check(get_board(board).default_config(), board).fits()


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_largest_network_fits_and_one_more_does_not(board):
    config = get_board(board).default_config()
    largest = largest_neurons(config, board)
    assert estimate(config.replace(neurons=largest), board).fits()
    if largest < 1024:
        assert not estimate(config.replace(neurons=largest + 1), board).fits()


def test_ulx3s_holds_the_target_network():
    config = CoreConfig(neurons=512, inputs=128, lanes=8, banks=1)
    result = check(config, "ulx3s")
    weights = next(item for item in result.items if item.name == "weights0")
    # 640 rows x 64 words of 64 bits in 512x36 DP16KD: 2 wide x 80 deep
    assert weights.blocks == 160
    # the count Yosys and nextpnr used for this core alone (docs/boards.md: 190, measured before
    # the RECORD region), plus the estimate's one block of the RECORD memory (512 x 1 bit)
    link = {name for name, _, _ in link_memories(config)}
    record = next(item for item in result.items if item.name == "record")
    assert record.blocks == 1
    assert sum(item.blocks for item in result.items
               if item.kind == "bram" and item.name not in link) == 190 + record.blocks


def test_refusal_names_the_ram_the_count_and_the_fix():
    config = CoreConfig(neurons=1024, inputs=128, lanes=8)
    with pytest.raises(BoardError) as info:
        check(config, "ulx3s")
    message = str(info.value)
    assert message.startswith("N=1024 M=128 L=8 needs ")
    assert "DP16KD block RAMs" in message and "the LFE5U-85F has 208" in message
    largest = largest_neurons(config, "ulx3s")
    assert f"use at most N={largest} with M=128 L=8" in message
    assert isinstance(info.value, ConfigError)


def test_icebreaker_refusal_explains_the_spram():
    # a learning core has two-port weights: they would need block RAM, of which there is little
    config = CoreConfig(neurons=256, inputs=64, lanes=2)
    with pytest.raises(BoardError, match=r"the weights go to the SPRAM only with "
                                         r"single_port_weights=True"):
        check(config, "icebreaker")
    # without learning and with single-ported weights, the same network fits
    lean = CoreConfig(neurons=256, inputs=64, lanes=1, banks=1, stdp=False,
                      single_port_weights=True)
    assert check(lean, "icebreaker").spram >= 1


def test_spram_count_refusal():
    # single-ported weights: 464 rows x 200 words of 16 bits = 92,800 words, 6 SPRAMs of 16 K
    # words
    config = CoreConfig(neurons=400, inputs=64, lanes=2, banks=1, stdp=False,
                        single_port_weights=True)
    with pytest.raises(BoardError) as info:
        check(config, "icebreaker")
    assert str(info.value).startswith("N=400 M=64 L=2 needs 6 SPRAMs for its weights; "
                                      "the UP5K has 4; use at most N=")


def test_spram_packs_two_8_bit_weights_per_row():
    # 256 x 256 one-lane weights: 65,536 bytes = 32 K rows of 16 bits = 2 SPRAMs
    config = CoreConfig(neurons=256, inputs=0, lanes=1, banks=1, stdp=False,
                        single_port_weights=True)
    assert estimate(config, "icebreaker").spram == 2


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(BoardError, match="unknown board 'nexys'; choose one of cmod_a7, "):
        get_board("nexys")


def test_board_aliases_name_the_same_board():
    assert get_board("ulx3s-85f") is get_board("ulx3s")
    assert check(get_board("ulx3s-85f").default_config(neurons=512, inputs=128),
                 "ulx3s-85f").fits()


def test_tang_nano_9k_model_matches_its_builds():
    """Block RAM counts nextpnr reported for the Tang Nano 9K's learning builds."""
    spec = get_board("tang_nano_9k")
    assert spec.default_config().stdp
    assert estimate(spec.default_config(neurons=128), spec).bram == 21
    assert estimate(spec.default_config(), spec).bram == 26          # N=160: every B-SRAM
    assert largest_neurons(spec.default_config(), spec) == 160


def test_the_estimate_reads_the_ram_style_from_the_core_inventory():
    from spikeforge.rtl.core import inventory
    single = CoreConfig(neurons=12, inputs=5, lanes=1, banks=1, stdp=False,
                        single_port_weights=True)
    specs = {spec.name: spec for spec in inventory(single)}
    assert (specs["weights0"].ports, specs["weights0"].style) == ("1rw", "spram")
    assert all(spec.style == "ebr" for name, spec in specs.items() if name != "weights0")
    kinds = {item.name: item.kind for item in estimate(single, "icebreaker").items}
    assert kinds["weights0"] == "spram" and kinds["state"] == "bram"
    dual = single.replace(single_port_weights=False)
    assert {spec.name: spec.style for spec in inventory(dual)}["weights0"] == "ebr"
    kinds = {item.name: item.kind for item in estimate(dual, "icebreaker").items}
    assert kinds["weights0"] == "bram"
