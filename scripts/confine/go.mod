module capstan.dev/confine

go 1.26
