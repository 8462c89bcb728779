"""Bank layouts shared by the frontends that write them and the analyzers that read them."""
