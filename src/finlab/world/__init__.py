"""The synthetic payment world: population, ordinary behaviour and the generator that runs them."""
