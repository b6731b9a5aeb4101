"""The batched model is the tutorial's model: same parameter count, same function at batch 1."""

import torch

from benchmarks import tutorial
from ecgnb import train
from ecgnb.config import Config
from ecgnb.model import RecurrentAutoencoder, count_parameters, layer_shapes


def _tutorial_state_as_ours(ref: tutorial.RecurrentAutoencoder) -> dict:
    """Map the tutorial's parameter names onto ours (same tensors, other names)."""
    names = {"encoder.rnn1": "enc1", "encoder.rnn2": "enc2", "decoder.rnn1": "dec1",
             "decoder.rnn2": "dec2", "decoder.output_layer": "out"}
    state = {}
    for key, value in ref.state_dict().items():
        prefix, _, leaf = key.rpartition(".")
        state[f"{names[prefix]}.{leaf}"] = value
    return state


def test_parameter_count_matches_the_tutorial_for_e128():
    ours = RecurrentAutoencoder(seq_len=140, n_features=1, embedding_dim=128)
    ref = tutorial.RecurrentAutoencoder(140, 1, 128)
    assert count_parameters(ours) == count_parameters(ref) == 990_465


def test_same_function_as_the_tutorial_at_batch_1():
    torch.manual_seed(0)
    ref = tutorial.RecurrentAutoencoder(140, 1, 128).eval()
    ours = RecurrentAutoencoder(140, 1, 128).eval()
    ours.load_state_dict(_tutorial_state_as_ours(ref), strict=False)  # scaling buffers stay 0/1
    x = torch.randn(140, 1)
    with torch.no_grad():
        expected = ref(x)  # (140, 1)
        got = ours(x.unsqueeze(0))[0]  # (1, 140, 1) -> (140, 1)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_batches_are_independent_sequences():
    torch.manual_seed(1)
    model = RecurrentAutoencoder(seq_len=20, n_features=3, embedding_dim=8).eval()
    x = torch.randn(5, 20, 3)
    with torch.no_grad():
        whole = model(x)
        one_by_one = torch.cat([model(x[i:i + 1]) for i in range(5)])
    assert whole.shape == (5, 20, 3)
    torch.testing.assert_close(whole, one_by_one, rtol=1e-5, atol=1e-6)


def test_scaling_keeps_inputs_and_outputs_in_data_units():
    torch.manual_seed(2)
    model = RecurrentAutoencoder(seq_len=10, n_features=1, embedding_dim=4)
    x = torch.randn(50, 10, 1) * 3 + 5
    model.fit_scaling(x.numpy())
    torch.testing.assert_close(model.mean, x.mean(0))
    code = model.encode(x)
    assert code.shape == (50, 4)
    assert model.decode(code).shape == x.shape
    assert count_parameters(model) == count_parameters(RecurrentAutoencoder(10, 1, 4))  # buffers are not parameters


def test_chrono_init_spreads_forget_gate_memories_up_to_the_sequence_length():
    model = RecurrentAutoencoder(seq_len=140, n_features=1, embedding_dim=16)
    before = count_parameters(model)
    model.chrono_init_(torch.Generator().manual_seed(0))
    for lstm in (model.enc1, model.enc2, model.dec1, model.dec2):
        h = lstm.hidden_size
        forget = lstm.bias_ih_l0[h:2 * h]
        assert forget.min() >= 0.0 and forget.max() <= torch.log(torch.tensor(139.0)) + 1e-6
        torch.testing.assert_close(lstm.bias_ih_l0[:h], -forget)  # input gate opens as forget closes
        assert torch.count_nonzero(lstm.bias_ih_l0[2 * h:]) == 0 and torch.count_nonzero(lstm.bias_hh_l0) == 0
    assert count_parameters(model) == before


def test_the_tutorial_loop_port_trains_and_validates():
    torch.manual_seed(3)
    model = tutorial.RecurrentAutoencoder(12, 1, 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    beats = torch.randn(3, 12).numpy()
    train_loss = tutorial.train_epoch(model, optimizer, tutorial.create_dataset(beats))
    val_loss = tutorial.validate(model, tutorial.create_dataset(beats))
    assert train_loss > 0 and val_loss > 0


def test_downsampled_model_walks_fewer_steps_and_returns_every_sample():
    torch.manual_seed(2)
    for seq_len, k, steps in ((140, 2, 70), (95, 2, 48), (140, 3, 47), (7, 1, 7)):
        model = RecurrentAutoencoder(seq_len=seq_len, n_features=2, embedding_dim=4, downsample=k).eval()
        seen = []
        model.enc1.register_forward_hook(lambda _m, args, _out: seen.append(args[0].shape[1]))
        with torch.no_grad():
            out = model(torch.randn(3, seq_len, 2))
        assert out.shape == (3, seq_len, 2) and seen == [steps] and model.steps == steps


def test_downsampling_averages_windows_and_interpolates_between_their_centres():
    model = RecurrentAutoencoder(seq_len=6, n_features=1, embedding_dim=2, downsample=2).eval()
    seen = []
    model.enc1.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    x = torch.tensor([1.0, 3.0, 5.0, 7.0, 9.0, 11.0]).reshape(1, 6, 1)
    with torch.no_grad():
        model(x)
        torch.nn.init.zeros_(model.out.weight)
        model.out.bias.copy_(torch.tensor([4.0]))
        flat = model(x)
    assert seen[0].flatten().tolist() == [2.0, 6.0, 10.0]  # the mean of each pair
    assert flat.flatten().tolist() == [4.0] * 6  # a constant stays constant through the interpolation
    assert count_parameters(model) == count_parameters(RecurrentAutoencoder(6, 1, 2))  # same weights, fewer steps


def test_layer_shapes_follow_a_batch_through_every_layer():
    model = RecurrentAutoencoder(seq_len=10, n_features=1, embedding_dim=3, downsample=2)
    shapes = layer_shapes(model, torch.zeros(4, 10, 1))
    assert shapes == [("enc1", (4, 5, 1), (4, 5, 6)), ("enc2", (4, 5, 6), (4, 5, 3)), ("dec1", (4, 5, 3), (4, 5, 3)),
                      ("dec2", (4, 5, 3), (4, 5, 6)), ("out", (4, 5, 6), (4, 5, 1))]
    assert all(not layer._forward_hooks for layer in model.children())  # the hooks are gone again


def test_one_training_step_lowers_the_loss_on_its_batch():
    torch.manual_seed(0)
    model = RecurrentAutoencoder(seq_len=10, n_features=1, embedding_dim=3)
    x = torch.sin(torch.linspace(0, 6, 10)).reshape(1, 10, 1).repeat(4, 1, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    cfg = Config(downsample=1)
    first = train.step(model, x, optimizer, cfg)
    assert first.shape == () and train.step(model, x, optimizer, cfg) < first
