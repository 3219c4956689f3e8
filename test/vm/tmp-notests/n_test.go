package n

func helper() {}
