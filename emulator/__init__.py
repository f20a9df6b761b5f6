"""Deploy the app to a local AWS emulator (MiniStack): the harness behind ``make deploy-test``
and ``make local-deploy``. Not part of the installed package."""
