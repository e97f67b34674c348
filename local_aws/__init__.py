"""What only the embedded stack (`make run`) and the tests need from AWS's local stand-in,
moto; kept out of chalicelib/, which Chalice packs into every Lambda."""
